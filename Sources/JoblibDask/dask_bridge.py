# The bridge between a Swift program using Backend.dask and a Dask scheduler.
#
# Started by the Swift driver (JoblibBridge/Bridge.swift) with its program text on a pipe, it reads
# requests on descriptor 3 and writes replies on descriptor 4 (never stdin/stdout). Each request
# is one Dask task: a batch of the program's tasks, as the bytes a local worker process would
# receive. On every Dask worker, a WorkerPlugin keeps long-lived Swift worker processes (the same
# executable, re-executed in worker mode) and relays those bytes to them. Protocol: JoblibBridge/BridgeProtocol.md.
#
# The driver runs bridge_channel.py (frames, codes) and swift_worker.py (SwiftWorker) first, in the
# same namespace. Functions and classes here live in __main__, so Dask ships them to workers by
# value (cloudpickle) together with the globals they use: keep module-level state out of them.

import asyncio
import os
import queue
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

# ----------------------------------------------------------------------------------------------
# Worker side: runs inside each Dask worker process.

class SwiftWorkerPlugin(WorkerPlugin):
    """Long-lived Swift worker processes in one Dask worker: one per thread running our tasks."""

    def __init__(self, name, executable, digest, handshake_timeout):
        self.name = name
        self.executable = executable
        self.digest = digest
        self.handshake_timeout = handshake_timeout

    def setup(self, worker):
        self.lock = threading.Lock()
        self.idle = []
        self.busy = set()
        # The Swift worker running each submission (by the driver's id), so a cancel can kill it.
        self.running = {}
        self.closed = False
        self.error = None
        self.worker_name = "%s (%s)" % (worker.name, worker.address)
        try:
            check_executable(self.executable, self.digest)
            self.idle.append(self._start())
        except Exception as error:
            self.error = "the Swift worker could not start on Dask worker %s: %s" % (self.worker_name, error)

    def _start(self):
        return SwiftWorker(self.executable, self.handshake_timeout)

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

    def cancel(self, idents):
        """The driver no longer wants these submissions (its call failed or was cancelled): their
        Swift workers are killed, so that the tasks after the running one never start."""
        # Under the lock: a process found here still runs that submission. Killed after the lock,
        # it could have gone back to idle meanwhile and died under the next submission.
        with self.lock:
            for ident in idents:
                process = self.running.get(ident)
                if process is not None:
                    process.terminate()

    def run(self, payload, count, timeout, ident=None):
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
                self.running[ident] = process
        if closed:
            process.stop()
            return INFRASTRUCTURE, struct.pack("<B", TASK_LOST) + b"the Swift worker plugin was removed"
        try:
            status, body = process.run(payload, count, timeout)
        finally:
            with self.lock:
                self.busy.discard(process)
                self.running.pop(ident, None)
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
        except Exception as error:  # on the scheduler: its log
            log("could not remove the session guard %s: %r" % (self.name, error))

        async def cleanup():
            try:
                await scheduler.unregister_worker_plugin(None, self.worker_plugin)
            except Exception as error:  # usually: already removed
                log("could not unregister the worker plugin %s: %r" % (self.worker_plugin, error))

        try:
            self.cleanup = asyncio.get_running_loop().create_task(cleanup())
        except RuntimeError:
            pass  # not on the scheduler's loop: it is shutting down, and its workers with it


def run_swift_batch(plugin_name, payload, count, timeout, ident=None):
    """The Dask task: one batch, run by this worker's plugin. Returns (status, bytes), never raises
    for a task's own failure, so that Dask does not retry it."""
    worker = get_worker()
    plugin = worker.plugins.get(plugin_name)
    if plugin is None:
        # The scheduler's guard removed it: it saw this bridge's client leave (a killed bridge, or
        # a connection that broke and came back). This bridge must not be trusted any more.
        message = "the Swift worker plugin is gone from Dask worker %s: the scheduler lost this client" % worker.address
        return INFRASTRUCTURE, struct.pack("<B", CLUSTER_LOST) + message.encode()
    return plugin.run(payload, count, timeout, ident)


def cancel_swift_batches(plugin_name, idents, dask_worker=None):
    """Run on every Dask worker when the driver cancels submissions: kills their Swift workers."""
    plugin = dask_worker.plugins.get(plugin_name)
    if plugin is not None:
        plugin.cancel(idents)


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


class Bridge(BridgeChannel):
    def __init__(self, options):
        BridgeChannel.__init__(self)
        self.options = options
        self.lock = threading.Lock()
        self.futures = {}
        # How long each pending submission may wait without workers: the no-workers timeout, or
        # its own (the call's) timeout when shorter. Calls with different timeouts share a bridge.
        self.patience = {}
        self.done = queue.Queue()
        self.client = None
        self.session = uuid.uuid4().hex[:12]
        self.plugin_name = None

    def start(self):
        o = self.options
        if IMPORT_ERROR is not None:
            self.fail(RUNTIME_MISSING,
                      "%s could not import Dask (%s); install it with: %s -m pip install 'dask[distributed]==%s'"
                      % (sys.executable, IMPORT_ERROR, sys.executable, o.pinned_version))
            return False
        try:
            self.client = Client(o.scheduler, timeout=o.connect_timeout, set_as_default=False)
        except Exception as error:
            self.fail(UNREACHABLE, "could not connect to the Dask scheduler at %s within %.0f s: %s"
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
            self.client.wait_for_workers(1, timeout=o.start_wait)
        except Exception:
            self.fail(NO_WORKERS, "the Dask scheduler at %s has no workers (waited %.0f s); start some with "
                      "`dask worker %s`" % (o.scheduler, o.start_wait, o.scheduler))
            return False
        digest = file_digest(o.executable) if o.check_executable else None
        self.plugin_name = "swift-joblib-%s" % self.session
        plugin = SwiftWorkerPlugin(self.plugin_name, o.executable, digest, o.handshake_timeout)
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
        self.ready({"python": sys.version.split()[0], "dask": dask.__version__, "distributed": distributed.__version__,
                    "workers": len(errors), "threads": threads})
        return True

    def on_submit(self, ident, payload, count, timeout, objects):
        if objects:  # the driver sends Dask no objects (DaskSettings has no objectThreshold)
            self.infrastructure(ident, TASK_LOST, "the Dask bridge takes no objects")
            return
        try:
            data = payload
            if len(payload) > self.options.scatter_threshold:
                data = self.client.scatter(payload, hash=False)
            future = self.client.submit(
                run_swift_batch, self.plugin_name, data, count, timeout, ident,
                key="swift-joblib-%s-%d" % (self.session, ident), pure=False)
        except Exception as error:  # never let one bad submit kill the bridge (it would hang the driver)
            self.infrastructure(ident, self.loss_code(), "could not submit the task to Dask: %r" % (error,))
            return
        with self.lock:
            self.futures[ident] = future
            self.patience[ident] = min(self.options.no_workers_timeout, timeout) if timeout > 0 \
                else self.options.no_workers_timeout
        future.add_done_callback(lambda finished, ident=ident: self.done.put((ident, finished)))

    def loss_code(self):
        return CLUSTER_LOST if self.client is None or self.client.status != "running" else TASK_LOST

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
                self.patience.pop(ident, None)
            try:
                status, body = future.result()
                self.result(ident, status, body)
            except Exception as error:
                text = "%s: %s" % (type(error).__name__, error)
                code = CLUSTER_LOST if "scheduler-connection-lost" in text else self.loss_code()
                if code == CLUSTER_LOST:
                    text = "lost the connection to the Dask scheduler at %s (%s)" % (self.options.scheduler, text)
                self.infrastructure(ident, code, text)
            try:
                future.release()
            except Exception as error:
                log("could not release the future of task %d: %r" % (ident, error))

    def abandon_pending(self, code, message, waited=None):
        """Fails the pending submissions; with `waited` (seconds without workers), only those
        that may not wait that long."""
        with self.lock:
            if waited is None:
                pending, self.futures, self.patience = self.futures, {}, {}
            else:
                pending = {ident: future for ident, future in self.futures.items()
                           if waited > self.patience.get(ident, self.options.no_workers_timeout)}
                for ident in pending:
                    del self.futures[ident]
                    self.patience.pop(ident, None)
        if not pending:
            return
        for ident in sorted(pending):
            self.infrastructure(ident, code, message)
        try:
            self.client.cancel(list(pending.values()), force=True)
        except Exception as error:
            log("could not cancel %d abandoned tasks: %r" % (len(pending), error))

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
                    self.abandon_pending(CLUSTER_LOST, "lost the connection to the Dask scheduler at %s"
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
            self.abandon_pending(NO_WORKERS, "the Dask cluster at %s has had no workers for %.0f s; the task "
                                 "was abandoned" % (o.scheduler, now - no_workers_since), waited=now - no_workers_since)

    def serving(self):
        threading.Thread(target=self.write_results, daemon=True).start()
        threading.Thread(target=self.watch, daemon=True).start()

    def on_cancel(self, idents):
        with self.lock:
            futures = [self.futures.pop(ident) for ident in idents if ident in self.futures]
            for ident in idents:
                self.patience.pop(ident, None)
        if not futures:
            return
        try:
            self.client.cancel(futures, force=True)
        except Exception as error:
            log("could not cancel %d tasks: %r" % (len(futures), error))
        # Dask does not interrupt a running task: its Swift worker is killed instead
        # (Client.run returns once every worker did; wait=False is for coroutines only).
        try:
            self.client.run(cancel_swift_batches, self.plugin_name, list(idents), on_error="ignore")
        except Exception as error:
            log("could not stop the Swift workers of %d cancelled tasks: %r" % (len(futures), error))

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
        except Exception as error:  # the scheduler's guard removes it when the client goes
            log("could not remove the worker plugin at exit: %r" % (error,))
        try:
            self.client.close(timeout=5)
        except Exception as error:
            log("could not close the Dask client: %r" % (error,))


def main():
    parser = bridge_arguments("Dask", pinned_version="2026.8.0")
    parser.add_argument("--scheduler", required=True)
    parser.add_argument("--no-workers-timeout", type=float, default=30)
    # How long start waits for a first worker (the call's timeout when shorter; default: the above).
    parser.add_argument("--start-wait", type=float, default=None)
    parser.add_argument("--scatter-threshold", type=int, default=1 << 20)
    options = parser.parse_args()
    if options.start_wait is None:
        options.start_wait = options.no_workers_timeout
    import logging
    logging.getLogger("distributed").setLevel(logging.ERROR)
    bridge = Bridge(options)
    run_bridge("Dask", bridge, close=bridge.close)


if __name__ == "__main__":
    main()
