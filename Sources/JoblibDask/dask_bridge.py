# The bridge between a Swift program using Backend.dask and a Dask scheduler.
#
# Started by the Swift driver (JoblibDask/Bridge.swift) with its program text on a pipe, it reads
# requests on descriptor 3 and writes replies on descriptor 4 (never stdin/stdout). Each request
# is one Dask task: a batch of the program's tasks, as the bytes a local worker process would
# receive. On every Dask worker, a WorkerPlugin keeps long-lived Swift worker processes (the same
# executable, re-executed in worker mode) and relays those bytes to them. Protocol: BridgeProtocol.md.
#
# Functions and classes here live in __main__, so Dask ships them to workers by value
# (cloudpickle) together with the globals they use: keep module-level state out of them.

import argparse
import asyncio
import hashlib
import mmap
import os
import queue
import select
import signal
import struct
import sys
import threading
import time
import uuid

try:
    import dask
    import distributed
    from distributed import Client, WorkerPlugin, get_worker
    from distributed.diagnostics.plugin import SchedulerPlugin
    IMPORT_ERROR = None
except ImportError as error:  # reported to the driver, which tells the user what to install
    IMPORT_ERROR = error
    WorkerPlugin = SchedulerPlugin = object

IN_FD, OUT_FD = 3, 4

# Driver -> bridge frame kinds.
SUBMIT, CANCEL = 1, 2
# Bridge -> driver frame kinds.
READY, FAILED, RESULT = 1, 2, 3
# Result statuses.
OK, WORKER_DIED, INFRASTRUCTURE = 0, 1, 2
# Codes of FAILED frames and INFRASTRUCTURE results (DaskError codes on the Swift side).
DISTRIBUTED_MISSING, SCHEDULER_UNREACHABLE, VERSION_MISMATCH, NO_WORKERS, WORKER_START_FAILED, \
    TASK_LOST, SCHEDULER_LOST, BRIDGE_FAILED = 1, 2, 3, 4, 5, 6, 7, 8


# ----------------------------------------------------------------------------------------------
# Worker side: runs inside each Dask worker process.

def file_digest(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_all(fd, data):
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class SwiftWorker:
    """One Swift worker process: tasks on its descriptor 3, results from its descriptor 4."""

    TAIL = 64 * 1024

    def __init__(self, executable, environment, handshake_timeout):
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
        # Reaping and signalling: teardown may kill a process that another thread is running.
        self.process_lock = threading.Lock()
        # Above every target descriptor, so that one dup2 cannot clobber another's source.
        import fcntl
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (task_read, result_write, error_write, status_fd)]
        env = dict(os.environ)
        env.update(environment)
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
                write_all(2, chunk)  # into the Dask worker's log
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

    def run(self, payload, count, timeout):
        """Runs one batch; (OK, frames) or (WORKER_DIED, details) when the process ends or overruns.

        A `results` frame holds the outcomes of several tasks; its body starts with their count.
        The worker sends one at least every 20 ms while tasks finish, so waiting `timeout` for the
        next frame bounds the time of one task."""
        frames = bytearray()
        try:
            write_all(self.tasks, struct.pack("<IB", len(payload), 2) + bytes(payload))
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
            return OK, bytes(frames)
        running = struct.unpack_from("<Q", self.status, 0)[0]
        self.kill()
        code, sig = -1, 0
        if self.returncode is not None:
            code, sig = (self.returncode, 0) if self.returncode >= 0 else (-1, -self.returncode)
        details = struct.pack("<I", len(frames)) + bytes(frames)
        details += struct.pack("<iiBiQ", code, sig, 1 if timed_out else 0, self.pid, running)
        details += self.stderr_tail().encode("utf-8", "replace")
        return WORKER_DIED, details

    def alive(self):
        return self.returncode is None

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


class SwiftWorkerPlugin(WorkerPlugin):
    """Long-lived Swift worker processes in one Dask worker: one per thread running our tasks."""

    def __init__(self, name, executable, digest, environment, handshake_timeout):
        self.name = name
        self.executable = executable
        self.digest = digest
        self.environment = environment
        self.handshake_timeout = handshake_timeout

    def setup(self, worker):
        self.lock = threading.Lock()
        self.idle = []
        self.busy = set()
        self.closed = False
        self.error = None
        self.worker_name = "%s (%s)" % (worker.name, worker.address)
        try:
            if not os.access(self.executable, os.X_OK):
                raise RuntimeError("%s is not an executable file on this host" % self.executable)
            if self.digest and file_digest(self.executable) != self.digest:
                raise RuntimeError(
                    "%s on this host is not the same build as the driver's (its SHA-256 differs); "
                    "install the same executable on every worker host" % self.executable)
            self.idle.append(self._start())
        except Exception as error:
            self.error = "the Swift worker could not start on Dask worker %s: %s" % (self.worker_name, error)

    def _start(self):
        return SwiftWorker(self.executable, self.environment, self.handshake_timeout)

    def teardown(self, worker):
        """The plugin was removed (the bridge closed, or its client vanished): idle Swift workers
        stop; busy ones are killed, and the threads running them close them."""
        with self.lock:
            self.closed = True
            idle, self.idle = self.idle, []
            busy = list(self.busy)
        for process in idle:
            process.close_tasks()
        deadline = time.monotonic() + 1.0
        for process in idle:
            process.stop(deadline)
        for process in busy:
            process.terminate()

    def run(self, payload, count, timeout):
        if self.error:
            return INFRASTRUCTURE, struct.pack("<B", WORKER_START_FAILED) + self.error.encode()
        with self.lock:
            closed = self.closed
            process = self.idle.pop() if self.idle and not closed else None
        if closed:
            return INFRASTRUCTURE, struct.pack("<B", TASK_LOST) + b"the Swift worker plugin was removed"
        if process is None:
            try:
                process = self._start()
            except Exception as error:
                message = "the Swift worker could not start on Dask worker %s: %s" % (self.worker_name, error)
                return INFRASTRUCTURE, struct.pack("<B", WORKER_START_FAILED) + message.encode()
        with self.lock:
            closed = self.closed
            if not closed:
                self.busy.add(process)
        if closed:
            process.stop()
            return INFRASTRUCTURE, struct.pack("<B", TASK_LOST) + b"the Swift worker plugin was removed"
        try:
            status, body = process.run(payload, count, timeout)
        finally:
            with self.lock:
                self.busy.discard(process)
                keep = process.alive() and not self.closed
                if keep:
                    self.idle.append(process)
            if not keep:
                process.stop()  # closes what it held; the next task starts a fresh one
        return status, body


class SessionGuard(SchedulerPlugin):
    """On the scheduler: when the bridge's client goes away without removing its worker plugin
    (the bridge was killed with SIGKILL, or its host vanished), removes the plugin, whose teardown
    stops the Swift workers, and then itself. A clean close removes the plugin first."""

    def __init__(self, name, client_id, worker_plugin):
        self.name = name
        self.client_id = client_id
        self.worker_plugin = worker_plugin
        self.cleanup = None

    def remove_client(self, scheduler, client):
        if client != self.client_id:
            return
        try:
            scheduler.remove_plugin(name=self.name)
        except Exception:
            pass

        async def cleanup():
            try:
                await scheduler.unregister_worker_plugin(None, self.worker_plugin)
            except Exception:
                pass  # already removed

        try:
            self.cleanup = asyncio.get_running_loop().create_task(cleanup())
        except RuntimeError:
            pass  # not on the scheduler's loop: it is shutting down, and its workers with it


def run_swift_batch(plugin_name, payload, count, timeout):
    """The Dask task: one batch, run by this worker's plugin. Returns (status, bytes), never raises
    for a task's own failure, so that Dask does not retry it."""
    worker = get_worker()
    plugin = worker.plugins.get(plugin_name)
    if plugin is None:
        # The scheduler's guard removed it: it saw this bridge's client leave (a killed bridge, or
        # a connection that broke and came back). This bridge must not be trusted any more.
        message = "the Swift worker plugin is gone from Dask worker %s: the scheduler lost this client" % worker.address
        return INFRASTRUCTURE, struct.pack("<B", SCHEDULER_LOST) + message.encode()
    return plugin.run(payload, count, timeout)


def plugin_error(plugin_name, dask_worker=None):
    plugin = dask_worker.plugins.get(plugin_name)
    return "the plugin is missing" if plugin is None else plugin.error


# ----------------------------------------------------------------------------------------------
# Driver side: the bridge process itself.

CHECKED_PACKAGES = ("dask", "distributed", "cloudpickle", "msgpack", "tornado", "toolz")


def version_mismatches(versions):
    """Differences that make a cluster unusable from this client: Dask's required packages, and
    Python's major.minor (functions travel as pickled bytecode). Patch levels of Python and
    Dask's optional packages may differ. The scheduler does not use msgpack's version."""
    sides = [("client", versions.get("client")), ("scheduler", versions.get("scheduler"))]
    sides += [("worker %s" % address, info) for address, info in sorted((versions.get("workers") or {}).items())
              if isinstance(info, dict) and "packages" in info]

    def value(info, key):
        packages = (info or {}).get("packages") or {}
        found = packages.get(key)
        if key == "python" and found:
            return ".".join(str(found).split(".")[:2])
        return found or "missing"

    problems = []
    for key in ("python",) + CHECKED_PACKAGES:
        seen = [(side, value(info, key)) for side, info in sides if not (key == "msgpack" and side == "scheduler")]
        if len({version for _, version in seen}) > 1:
            problems.append("%s: %s" % (key, ", ".join("%s %s" % item for item in seen)))
    return problems


class Bridge:
    def __init__(self, options):
        self.options = options
        self.out_lock = threading.Lock()
        self.lock = threading.Lock()
        self.futures = {}
        self.requests = queue.Queue()
        self.done = queue.Queue()
        self.client = None
        self.session = uuid.uuid4().hex[:12]
        self.plugin_name = None

    def send(self, kind, body):
        with self.out_lock:
            write_all(OUT_FD, struct.pack("<QB", len(body), kind) + body)

    def fail(self, code, message):
        self.send(FAILED, struct.pack("<B", code) + message.encode("utf-8", "replace"))

    def result(self, ident, status, body):
        self.send(RESULT, struct.pack("<QB", ident, status) + body)

    def infrastructure(self, ident, code, message):
        self.result(ident, INFRASTRUCTURE, struct.pack("<B", code) + message.encode("utf-8", "replace"))

    def read_requests(self):
        stream = os.fdopen(IN_FD, "rb", buffering=1 << 16)
        while True:
            header = stream.read(9)
            if len(header) < 9:
                break
            length, kind = struct.unpack("<QB", header)
            body = stream.read(length)
            if len(body) < length:
                break
            self.requests.put((kind, body))
        self.requests.put(None)

    def start(self):
        o = self.options
        if IMPORT_ERROR is not None:
            self.fail(DISTRIBUTED_MISSING,
                      "%s could not import Dask (%s); install it with: %s -m pip install 'dask[distributed]==%s'"
                      % (sys.executable, IMPORT_ERROR, sys.executable, o.pinned_version))
            return False
        try:
            self.client = Client(o.scheduler, timeout=o.connect_timeout, set_as_default=False)
        except Exception as error:
            self.fail(SCHEDULER_UNREACHABLE, "could not connect to the Dask scheduler at %s within %.0f s: %s"
                      % (o.scheduler, o.connect_timeout, error))
            return False
        try:
            # Dask only warns about mismatches (get_versions(check=True) no longer raises).
            problems = version_mismatches(self.client.get_versions())
        except Exception as error:
            problems = ["could not read the cluster's versions: %r" % (error,)]
        if problems:
            self.fail(VERSION_MISMATCH, "the client, the scheduler and the workers must run the same Python "
                      "(major.minor) and the same %s; these differ: %s"
                      % (", ".join(CHECKED_PACKAGES), "; ".join(problems)))
            return False
        try:
            self.client.wait_for_workers(1, timeout=o.no_workers_timeout)
        except Exception:
            self.fail(NO_WORKERS, "the Dask scheduler at %s has no workers (waited %.0f s); start some with "
                      "`dask worker %s`" % (o.scheduler, o.no_workers_timeout, o.scheduler))
            return False
        digest = file_digest(o.executable) if o.check_executable else None
        environment = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        self.plugin_name = "swift-joblib-%s" % self.session
        plugin = SwiftWorkerPlugin(self.plugin_name, o.executable, digest, environment, o.handshake_timeout)
        try:
            guard = SessionGuard("swift-joblib-guard-%s" % self.session, self.client.id, self.plugin_name)
            self.client.register_plugin(guard, name=guard.name)
        except Exception as error:  # e.g. distributed.scheduler.pickle is off: workers outlive a killed bridge
            sys.stderr.write("swift-joblib: could not install the scheduler plugin that cleans up after a "
                             "killed bridge: %r\n" % (error,))
        try:
            self.client.register_plugin(plugin, name=self.plugin_name)
            errors = self.client.run(plugin_error, self.plugin_name)
        except Exception as error:
            self.fail(WORKER_START_FAILED, "could not install the Swift worker plugin: %r" % (error,))
            return False
        failures = [message for message in errors.values() if message]
        if failures:
            self.fail(WORKER_START_FAILED, failures[0])
            return False
        threads = sum(self.client.nthreads().values())
        info = {"python": sys.version.split()[0], "dask": dask.__version__, "distributed": distributed.__version__,
                "workers": len(errors), "threads": threads}
        self.send(READY, "\n".join("%s=%s" % item for item in info.items()).encode())
        return True

    def submit(self, body):
        ident, count, timeout = struct.unpack_from("<QId", body)
        payload = body[20:]
        try:
            data = payload
            if len(payload) > self.options.scatter_threshold:
                data = self.client.scatter(payload, hash=False)
            future = self.client.submit(
                run_swift_batch, self.plugin_name, data, count, timeout,
                key="swift-joblib-%s-%d" % (self.session, ident), pure=False)
        except Exception as error:  # never let one bad submit kill the bridge (it would hang the driver)
            self.infrastructure(ident, self.loss_code(), "could not submit the task to Dask: %r" % (error,))
            return
        with self.lock:
            self.futures[ident] = future
        future.add_done_callback(lambda finished, ident=ident: self.done.put((ident, finished)))

    def loss_code(self):
        return SCHEDULER_LOST if self.client is None or self.client.status != "running" else TASK_LOST

    def write_results(self):
        while True:
            item = self.done.get()
            if item is None:
                return
            ident, future = item
            with self.lock:
                if self.futures.get(ident) is not future:
                    continue  # cancelled by the driver or already reported
                del self.futures[ident]
            try:
                status, body = future.result()
                self.result(ident, status, body)
            except Exception as error:
                text = "%s: %s" % (type(error).__name__, error)
                code = SCHEDULER_LOST if "scheduler-connection-lost" in text else self.loss_code()
                if code == SCHEDULER_LOST:
                    text = "lost the connection to the Dask scheduler at %s (%s)" % (self.options.scheduler, text)
                self.infrastructure(ident, code, text)
            try:
                future.release()
            except Exception:
                pass

    def abandon_pending(self, code, message):
        with self.lock:
            pending, self.futures = self.futures, {}
        for ident in sorted(pending):
            self.infrastructure(ident, code, message)
        try:
            self.client.cancel(list(pending.values()), force=True)
        except Exception:
            pass

    def watch(self):
        """No workers for too long, or no scheduler: pending tasks fail instead of waiting forever."""
        o = self.options
        no_workers_since = None
        disconnected_since = None
        while True:
            time.sleep(0.25)
            now = time.monotonic()
            if self.client.status != "running":
                disconnected_since = disconnected_since or now
                if now - disconnected_since > o.connect_timeout:
                    self.abandon_pending(SCHEDULER_LOST, "lost the connection to the Dask scheduler at %s"
                                         % o.scheduler)
                continue
            disconnected_since = None
            try:
                workers = len(self.client.scheduler_info(n_workers=-1)["workers"])
            except Exception:
                continue
            if workers:
                no_workers_since = None
                continue
            no_workers_since = no_workers_since or now
            if now - no_workers_since > o.no_workers_timeout:
                self.abandon_pending(NO_WORKERS, "the Dask cluster at %s has had no workers for %.0f s; the task "
                                     "was abandoned" % (o.scheduler, o.no_workers_timeout))

    def serve(self):
        threading.Thread(target=self.write_results, daemon=True).start()
        threading.Thread(target=self.watch, daemon=True).start()
        while True:
            request = self.requests.get()
            if request is None:
                break
            kind, body = request
            if kind == SUBMIT:
                self.submit(body)
            elif kind == CANCEL:
                idents = struct.unpack("<%dQ" % (len(body) // 8), body)
                with self.lock:
                    futures = [self.futures.pop(ident) for ident in idents if ident in self.futures]
                if futures:
                    try:
                        self.client.cancel(futures, force=True)
                    except Exception:
                        pass

    def close(self):
        if self.client is None:
            return
        with self.lock:
            pending, self.futures = self.futures, {}
        try:
            if pending:
                self.client.cancel(list(pending.values()), force=True)
            if self.plugin_name:
                self.client.unregister_worker_plugin(self.plugin_name)
        except Exception:
            pass
        try:
            self.client.close(timeout=5)
        except Exception:
            pass


def main():
    parser = argparse.ArgumentParser(description="swift-joblib's Dask bridge (started by the Swift driver)")
    parser.add_argument("--scheduler", required=True)
    parser.add_argument("--executable", required=True)
    parser.add_argument("--check-executable", type=int, default=1)
    parser.add_argument("--connect-timeout", type=float, default=10)
    parser.add_argument("--no-workers-timeout", type=float, default=30)
    parser.add_argument("--handshake-timeout", type=float, default=30)
    parser.add_argument("--scatter-threshold", type=int, default=1 << 20)
    parser.add_argument("--pinned-version", default="2026.8.0")
    options = parser.parse_args()
    import logging
    logging.getLogger("distributed").setLevel(logging.ERROR)
    bridge = Bridge(options)
    threading.Thread(target=bridge.read_requests, daemon=True).start()
    try:
        if bridge.start():
            bridge.serve()
    except Exception as error:
        try:
            bridge.fail(BRIDGE_FAILED, "the Dask bridge failed: %r" % (error,))
        except OSError:
            pass
        raise
    finally:
        bridge.close()


if __name__ == "__main__":
    main()
