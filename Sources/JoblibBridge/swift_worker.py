# The Swift worker host that every bridge's remote side shares: one long-lived worker process of the
# driver's own executable (re-executed in worker mode, JoblibProcesses/WorkerProtocol.md) that runs
# the batches a backend relays to it, as the bytes a local worker receives. A Dask WorkerPlugin and
# a Ray actor both hold SwiftWorkers; they never parse the payloads.
#
# Runs after bridge_channel.py in __main__ (its constants and write_all), and travels to the
# cluster's workers by value with the classes that use it.

import hashlib
import mmap
import os
import select
import signal
import socket
import struct
import threading
import time


def file_digest(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_executable(executable, digest):
    """Raises RuntimeError unless `executable` exists here and (with a digest) is the driver's build."""
    if not os.access(executable, os.X_OK):
        raise RuntimeError("%s is not an executable file on this host" % executable)
    if digest and file_digest(executable) != digest:
        raise RuntimeError(
            "%s on this host is not the same build as the driver's (its SHA-256 differs); "
            "install the same executable on every worker host" % executable)


# What a Swift worker's environment adds to its host's, as on `.processes` (ProcessPool's
# workerEnvironment): native thread pools capped at one thread, since a cluster runs one Swift worker
# per thread of its own, unless the host's environment sets a cap; Swift's crash backtraces off unless
# SWIFT_BACKTRACE is set (a crash is summarised in the task's error, and symbolicating a large binary
# on a loaded node takes seconds, during which the call cannot fail fast).
WORKER_ENVIRONMENT_DEFAULTS = {
    "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "VECLIB_MAXIMUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1", "BLIS_NUM_THREADS": "1", "SWIFT_BACKTRACE": "enable=no",
}


def worker_environment():
    """The environment of a new Swift worker on this host: ours, with WORKER_ENVIRONMENT_DEFAULTS
    where ours says nothing."""
    environment = dict(os.environ)
    for name, value in WORKER_ENVIRONMENT_DEFAULTS.items():
        environment.setdefault(name, value)
    return environment


# Worker protocol frame kinds this host sends besides the batch (2).
RELEASE_ARENA_FRAME, PLACEMENTS_FRAME = 5, 6


def place_object(value):
    """A memory file of this process (no name in any file system, closed on exec) holding the
    bytes of `value` (a buffer: Ray's zero-copy view of an object): its descriptor."""
    fd = os.memfd_create("joblib-ray-object", os.MFD_CLOEXEC)
    try:
        write_all(fd, memoryview(value).cast("B"))
    except BaseException:
        os.close(fd)
        raise
    return fd


class SwiftWorker:
    """One Swift worker process: tasks on its descriptor 3, results from its descriptor 4."""

    TAIL = 64 * 1024

    def __init__(self, executable, handshake_timeout):
        task_read, task_write = os.pipe()
        result_read, result_write = os.pipe()
        error_read, error_write = os.pipe()
        # The worker's status words (descriptor 5): it writes the index of the task it is running
        # there, so that after a crash we know which task killed it.
        status_fd = os.memfd_create("joblib-status", os.MFD_CLOEXEC)
        os.ftruncate(status_fd, 4096)
        self.status = mmap.mmap(status_fd, 4096)
        self.tasks = self.results = -1
        self.returncode = None
        # Set by terminate(): the process may not have died yet, but it takes no further batch.
        self.killed = False
        # Reaping and signalling: teardown may kill a process that another thread is running.
        self.process_lock = threading.Lock()
        # Above every target descriptor, so that one dup2 cannot clobber another's source.
        import fcntl
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (task_read, result_write, error_write, status_fd)]
        env = worker_environment()
        env["JOBLIB_WORKER"] = "ctor"
        env["JOBLIB_WORKER_PARENT"] = str(os.getpid())
        self.pid = None
        try:
            self.pid = os.posix_spawn(
                executable, [executable], env,
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, high[0], 3),
                    (os.POSIX_SPAWN_DUP2, high[1], 4),
                    (os.POSIX_SPAWN_DUP2, high[2], 2),
                    (os.POSIX_SPAWN_DUP2, high[3], 5),
                ],
                setsigmask=(), setsigdef=(signal.SIGPIPE, signal.SIGINT, signal.SIGTERM))
        finally:
            for fd in high + [task_read, result_write, error_write, status_fd]:
                os.close(fd)
            if self.pid is None:
                for fd in (task_write, result_read, error_read):
                    os.close(fd)
                self.status.close()
        self.tasks = task_write
        self.results = result_read
        # Which worker ran a submission, for the driver's report: host and pid identify this process.
        self.name = ("%s pid %d" % (socket.gethostname(), self.pid)).encode("utf-8", "replace")[:1024]
        self.tail = bytearray()
        self.tail_lock = threading.Lock()
        self.drain = threading.Thread(target=self._drain, args=(error_read,), daemon=True)
        self.drain.start()
        kind, _ = self._read_frame(time.monotonic() + handshake_timeout)
        if kind != 1:
            reason = "did not answer within %.0f s" % handshake_timeout if kind is None else "ended (%s)" % self.describe_exit()
            self.kill()
            raise RuntimeError(
                "the Swift worker process %s %s; if the executable is linked with --static-swift-stdlib, call "
                "Joblib.workerMain() first in main. Its last output:\n%s" % (executable, reason, self.stderr_tail()))

    def _drain(self, fd):
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            try:
                write_all(2, chunk)  # into the log of the Dask worker or Ray actor
            except OSError:
                pass
            with self.tail_lock:
                self.tail += chunk
                del self.tail[:-self.TAIL]
        os.close(fd)

    def stderr_tail(self):
        self.drain.join(timeout=1.0)
        with self.tail_lock:
            return bytes(self.tail).decode("utf-8", "replace")

    def _read_exactly(self, count, deadline):
        data = bytearray()
        while len(data) < count:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return data, True
            readable, _, _ = select.select([self.results], [], [], remaining)
            if not readable:
                return data, True
            chunk = os.read(self.results, count - len(data))
            if not chunk:
                return data, False
            data += chunk
        return data, False

    def _read_frame(self, deadline):
        """(kind, raw frame bytes); (None, b"") on timeout; (0, b"") at end of file."""
        header, timed_out = self._read_exactly(5, deadline)
        if len(header) < 5:
            return (None if timed_out else 0), b""
        length = struct.unpack_from("<I", header)[0]
        body, timed_out = self._read_exactly(length, None)
        if len(body) < length:
            return 0, b""
        return header[4], bytes(header) + bytes(body)

    def ran_by(self, started):
        """What precedes every reply of run(): u64 nanoseconds it took, u16 length, this worker's name."""
        return struct.pack("<QH", max(0, time.monotonic_ns() - started), len(self.name)) + self.name

    def run(self, payload, count, timeout, placements=None):
        """Runs one batch; (OK, ran_by + frames) or (WORKER_DIED, ran_by + details) when the process
        ends or overruns. `placements`: the body of a `placements` frame sent before the batch
        (where this host placed the objects the batch refers to, WorkerProtocol.md).

        A `results` frame holds the outcomes of several tasks; its body starts with their count.
        The worker sends one at least every 20 ms while tasks finish, so waiting `timeout` for the
        next frame bounds the time of one task."""
        started = time.monotonic_ns()
        frames = bytearray()
        frames_out = b""
        if placements is not None:
            frames_out = struct.pack("<IB", len(placements), PLACEMENTS_FRAME) + placements
        try:
            write_all(self.tasks, frames_out + struct.pack("<IB", len(payload), 2) + bytes(payload))
        except OSError:
            pass  # it died: reading finds end of file
        timed_out = False
        received = 0
        while received < count:
            kind, frame = self._read_frame(None if timeout <= 0 else time.monotonic() + timeout)
            if kind == 3 and len(frame) >= 9:
                frames += frame
                received += struct.unpack_from("<I", frame, 5)[0]
                continue
            timed_out = kind is None
            break
        else:
            return OK, self.ran_by(started) + bytes(frames)
        running = struct.unpack_from("<Q", self.status, 0)[0]
        self.kill()
        code, sig = -1, 0
        if self.returncode is not None:
            code, sig = (self.returncode, 0) if self.returncode >= 0 else (-1, -self.returncode)
        details = self.ran_by(started) + struct.pack("<I", len(frames)) + bytes(frames)
        details += struct.pack("<iiBiQ", code, sig, 1 if timed_out else 0, self.pid, running)
        details += self.stderr_tail().encode("utf-8", "replace")
        return WORKER_DIED, details

    def alive(self):
        """Whether it can take another batch: not ended, and not killed (a killed process can still
        look alive until it is reaped, and a batch sent to it would come back as a death)."""
        return self.returncode is None and not self.killed

    def release_arena(self):
        """Between batches: the call is over, the worker drops its shared arrays (the mappings of
        this host's memory files and the copies decoded from them)."""
        if self.tasks >= 0 and self.alive():
            try:
                write_all(self.tasks, struct.pack("<IB", 0, RELEASE_ARENA_FRAME))
            except OSError:
                pass  # it died: the next batch starts another

    def describe_exit(self):
        if self.returncode is None:
            return "running"
        if self.returncode < 0:
            return "signal %d" % -self.returncode
        return "exit status %d" % self.returncode

    def _reap(self, block):
        """Records the exit status if the process ended (waits for it if `block`); under process_lock."""
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, 0 if block else os.WNOHANG)
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
            except ChildProcessError:
                self.returncode = -signal.SIGKILL

    def terminate(self):
        """SIGKILL, from any thread; the thread that owns the process reaps it and closes its channels.
        Never signals a reaped pid (which another process may have by now)."""
        with self.process_lock:
            self.killed = True
            if self.returncode is None:
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except OSError:
                    pass

    def kill(self):
        """Kills and reaps the process and closes everything it was given: by its owner only."""
        with self.process_lock:
            self._reap(False)
            if self.returncode is None:
                os.kill(self.pid, signal.SIGKILL)
                self._reap(True)
        self._close()

    def _close(self):
        for fd in (self.tasks, self.results):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.tasks = self.results = -1
        if not self.status.closed:
            self.status.close()

    def close_tasks(self):
        """End of file on its task channel: the worker exits once its batch is done."""
        if self.tasks >= 0:
            try:
                os.close(self.tasks)
            except OSError:
                pass
            self.tasks = -1

    def stop(self, deadline=None):
        """Closing its task channel makes the worker exit; it is killed if it lingers past `deadline`."""
        self.close_tasks()
        deadline = deadline or time.monotonic() + 1.0
        while time.monotonic() < deadline:
            with self.process_lock:
                self._reap(False)
            if self.returncode is not None:
                break
            time.sleep(0.01)
        self.kill()


