# The bridge between a Swift program using Backend.ray and a Ray cluster.
#
# Started by the Swift driver (JoblibBridge/Bridge.swift) after bridge_channel.py (frames, codes)
# and swift_worker.py (SwiftWorker), in the same namespace (__main__). It connects as a Ray driver,
# starts one long-lived actor per worker slot, each hosting one Swift worker process (the same
# executable, re-executed in worker mode), and relays each batch's bytes to an actor unparsed.
# An actor that Ray loses (its process killed, its node gone) is replaced and its batches run
# again on the replacement. Protocol: JoblibBridge/BridgeProtocol.md; this file's own rules in
# JoblibRay/RayBridge.md.
#
# Ray ships the actor class, defined in __main__, by value (cloudpickle) with the globals it uses.

import argparse
import collections
import json
import os
import queue
import socket
import sys
import threading
import time

try:
    import ray
    IMPORT_ERROR = None
except ImportError as error:  # reported to the driver, which tells the user what to install
    IMPORT_ERROR = error

# How often a batch is run again after the actor running it was lost, before its tasks fail.
ACTOR_LOSS_RETRIES = 3


class SwiftWorkerHost:
    """A Ray actor holding one Swift worker process; one batch at a time (max_concurrency=1)."""

    def __init__(self, executable, digest, handshake_timeout):
        self.executable = executable
        self.handshake_timeout = handshake_timeout
        self.worker = None
        self.error = None
        # The submission running now (the driver's id), so that a cancel can kill its Swift worker.
        self.lock = threading.Lock()
        self.running = None
        # Cancelled submissions that may still be queued here (never interrupted by Ray: an
        # interrupted read would leave the Swift worker's channel in the middle of a frame).
        self.cancelled = collections.deque(maxlen=4096)
        # The call's objects this actor placed (object id -> memory file descriptor), kept from
        # batch to batch until the bridge releases them; and how many it ever placed (tests).
        self.placed = {}
        self.materialised = 0
        try:
            self.where = "Ray node %s" % ray.util.get_node_ip_address()
        except Exception as error:
            self.where = "a Ray node (%r)" % (error,)
        try:
            check_executable(executable, digest)
            self.worker = SwiftWorker(executable, handshake_timeout)
        except Exception as error:
            self.error = "the Swift worker could not start on %s: %s" % (self.where, error)

    def started(self):
        """None when the Swift worker runs, else why not; and this actor's pid."""
        return self.error, os.getpid()

    def run(self, payload, count, timeout, ident=None, objects=()):
        if self.error:
            return INFRASTRUCTURE, struct.pack("<B", WORKER_START_FAILED) + self.error.encode("utf-8", "replace")
        if self.worker is None:
            try:
                self.worker = SwiftWorker(self.executable, self.handshake_timeout)
            except Exception as error:
                message = "the Swift worker could not start on %s: %s" % (self.where, error)
                return INFRASTRUCTURE, struct.pack("<B", WORKER_START_FAILED) + message.encode("utf-8", "replace")
        with self.lock:
            if ident is not None and ident in self.cancelled:
                return INFRASTRUCTURE, struct.pack("<B", TASK_LOST) + b"cancelled by the driver"
            self.running = (ident, self.worker)
        try:
            try:
                placements = self.place(objects) if objects else None
            except Exception as error:  # the object is gone (its node, the bridge): the batch is lost
                message = "%s could not get a large argument from Ray's object store: %r" % (self.where, error)
                return INFRASTRUCTURE, struct.pack("<B", TASK_LOST) + message.encode("utf-8", "replace")
            status, body = self.worker.run(payload, count, timeout, placements)
        finally:
            with self.lock:
                self.running = None
        if not self.worker.alive():
            self.worker.stop()  # closes what it held; the next batch starts a fresh one
            self.worker = None
        return status, body

    def place(self, objects):
        """The body of the `placements` frame for a batch that refers to `objects` ((id, ObjectRef)
        pairs, passed nested so that Ray does not resolve them for every batch): each object in a
        memory file of this actor, made once per call from a zero-copy view of this node's
        object store (Ray fetches it to the node once)."""
        entries = []
        for ident, reference in objects:
            fd = self.placed.get(ident)
            if fd is None:
                value = ray.get(reference)
                fd = place_object(value)
                del value  # the object store's copy may go (the bridge still owns the object)
                with self.lock:
                    self.placed[ident] = fd
                    self.materialised += 1
            entries.append(struct.pack("<Qi", ident, fd))
        return struct.pack("<iI", os.getpid(), len(entries)) + b"".join(entries)

    def release(self, idents):
        """The bridge released these objects: their memory files close (the memory goes when the
        Swift worker unmaps them too). With none left the call is over, and the Swift worker drops
        its mappings and copies. Runs between batches (the default group)."""
        with self.lock:
            for ident in idents:
                fd = self.placed.pop(ident, None)
                if fd is not None:
                    os.close(fd)
            empty = not self.placed
        if empty and self.worker is not None:
            self.worker.release_arena()

    def statistics(self):
        """(pid, objects placed now, objects ever placed), for tests (the control group)."""
        with self.lock:
            return os.getpid(), len(self.placed), self.materialised

    def cancel(self, idents):
        """Runs beside `run` (its own concurrency group): the driver no longer wants these
        submissions, so the Swift worker running one of them is killed (the tasks after the
        running one never start) and replaced for the next batch."""
        with self.lock:
            self.cancelled.extend(idents)
            running = self.running
            if running is not None and running[0] in idents:
                running[1].terminate()

    def stop(self):
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        self.release(list(self.placed))


def gcs_address(address):
    """(host, port) of an explicit `host:port` (or `ray://`-less URL), None for `auto`."""
    if address in ("", "auto", "local"):
        return None
    host, _, port = address.rpartition(":")
    try:
        return host or "127.0.0.1", int(port)
    except ValueError:
        return None


def capacity(nodes, need):
    """How many actors needing `need` (resource -> amount) fit on the alive nodes."""
    total = 0
    for node in nodes:
        if not node.get("Alive"):
            continue
        resources = node.get("Resources") or {}
        fits = min(int(resources.get(name, 0) // amount) for name, amount in need.items() if amount > 0) \
            if any(amount > 0 for amount in need.values()) else 1
        total += max(0, fits)
    return total


class Slot:
    """One actor and the submissions it is running or has queued."""

    def __init__(self, index, actor):
        self.index = index
        self.actor = actor
        self.running = {}  # ident -> ObjectRef
        self.actors = {}  # ident -> the actor it was sent to (the slot's actor may change)


class Bridge(BridgeChannel):
    def __init__(self, options):
        BridgeChannel.__init__(self)
        self.options = options
        self.lock = threading.Lock()
        self.slots = []
        self.waiting = collections.deque()  # (ident, payload, count, timeout, attempts), not yet on an actor
        self.submissions = {}  # ident -> (payload, count, timeout, attempts, slot or None)
        self.need = {}
        self.actor_class = None
        self.digest = None
        self.lost = None  # why the cluster is gone, once it is
        # The Swift driver that started this bridge: once it is gone (this process re-parented),
        # starting goes no further. Its requests are read only after start, so their end of file
        # cannot tell; without this, a killed driver left its bridge waiting out the start timeouts.
        self.driver = os.getppid()
        # The calls' large arguments (BridgeProtocol.md, "Objects"): object id -> ObjectRef, put
        # once and held until the driver releases them; why a put failed; counters for tests.
        self.objects = {}
        self.object_errors = {}
        self.puts = 0
        self.put_bytes = 0

    # -- start ------------------------------------------------------------------------------------

    def start(self):
        o = self.options
        if IMPORT_ERROR is not None:
            self.fail(RUNTIME_MISSING, "%s could not import Ray (%s); install it with: %s -m pip install 'ray==%s'"
                      % (sys.executable, IMPORT_ERROR, sys.executable, o.pinned_version))
            return False
        target = gcs_address(o.address)
        if target is not None:
            # Ray's own connect waits minutes for an address where nothing listens.
            try:
                socket.create_connection(target, timeout=o.connect_timeout).close()
            except OSError as error:
                self.fail(UNREACHABLE, "no Ray cluster answers at %s (%s); start one with `ray start --head "
                          "--port=%d`, or check the address" % (o.address, error, target[1]))
                return False
        try:
            runtime_env = json.loads(o.runtime_env) if o.runtime_env else None
        except ValueError as error:
            self.fail(BRIDGE_FAILED, "RayOptions.runtimeEnvironment is not a JSON object: %s" % (error,))
            return False
        outcome = {}

        def connect():
            try:
                ray.init(address=o.address, namespace=o.namespace or None, runtime_env=runtime_env,
                         logging_level="ERROR", log_to_driver=False, configure_logging=True)
                outcome["ok"] = True
            except BaseException as error:
                outcome["error"] = error

        thread = threading.Thread(target=connect, daemon=True)
        thread.start()
        deadline = time.monotonic() + o.connect_timeout
        while thread.is_alive() and time.monotonic() < deadline:
            thread.join(min(0.25, max(0.0, deadline - time.monotonic())))
            if self.driver_gone():  # Ray's connect can wait out its timeout for a cluster going away
                return False
        if thread.is_alive():
            self.fail(UNREACHABLE, "could not connect to the Ray cluster at %s within %.0f s" % (o.address, o.connect_timeout))
            return False
        if "error" in outcome:
            error = outcome["error"]
            if "version mismatch" in str(error).lower():
                self.fail(VERSION_MISMATCH, "this program's Ray bridge and the Ray cluster at %s run different versions "
                          "(Ray, and Python down to the patch level, must agree): %s" % (o.address, error))
            else:
                self.fail(UNREACHABLE, "could not connect to the Ray cluster at %s: %r" % (o.address, error))
            return False
        problems = self.version_mismatches()
        if problems:
            self.fail(VERSION_MISMATCH, "the client and the Ray cluster at %s must run the same Ray and Python "
                      "(major.minor); these differ: %s" % (o.address, "; ".join(problems)))
            return False
        self.need = {"CPU": o.num_cpus}
        self.need.update(json.loads(o.resources))
        slots = self.wait_for_capacity(o.start_wait)
        if self.driver_gone():
            return False
        if slots == 0:
            self.fail(NO_WORKERS, "no node of the Ray cluster at %s can host a Swift worker needing %s (waited %.0f s); "
                      "add nodes with `ray start --address=%s`, or lower RayOptions' resources"
                      % (o.address, self.describe_need(), o.start_wait, o.address))
            return False
        if o.max_workers > 0:
            slots = min(slots, o.max_workers)
        try:
            self.digest = file_digest(o.executable) if o.check_executable else None
        except OSError as error:
            self.fail(WORKER_START_FAILED, "cannot read the Swift worker executable %s here: %s" % (o.executable, error))
            return False
        custom = {name: amount for name, amount in self.need.items() if name != "CPU"}
        # One batch at a time in the default group; `cancel` has a thread of its own.
        self.actor_class = ray.remote(num_cpus=o.num_cpus, resources=custom or None, max_restarts=0,
                                      max_task_retries=0, max_concurrency=1,
                                      concurrency_groups={"control": 1})(SwiftWorkerHost)
        actors = [self.new_actor() for _ in range(slots)]
        checks = [actor.started.remote() for actor in actors]
        ready = self.wait_while_driver_lives(checks, o.start_wait + o.handshake_timeout)
        if ready is None:  # the actors share this process's fate (Ray removes them when it exits)
            return False
        if len(ready) < len(checks):
            for actor in actors:
                ray.kill(actor)
            try:
                free = ", ".join("%s=%g" % item for item in sorted(ray.available_resources().items())
                                 if not item[0].startswith("node:"))
            except Exception as error:
                free = repr(error)
            self.fail(NO_WORKERS, "only %d of %d Swift worker actors (%s each) started on the Ray cluster at %s within "
                      "%.0f s (free now: %s); other jobs may hold its resources"
                      % (len(ready), len(checks), self.describe_need(), o.address, o.start_wait + o.handshake_timeout, free))
            return False
        try:
            errors = [error for error, _ in ray.get(checks)]
        except Exception as error:
            errors = ["a Swift worker actor failed at start: %r" % (error,)]
        failures = [error for error in errors if error]
        if failures:
            for actor in actors:
                ray.kill(actor)
            self.fail(WORKER_START_FAILED, failures[0])
            return False
        self.slots = [Slot(index, actor) for index, actor in enumerate(actors)]
        nodes = [node for node in ray.nodes() if node.get("Alive")]
        self.ready({"threads": len(self.slots), "workers": len(self.slots), "nodes": len(nodes),
                    "python": sys.version.split()[0], "ray": ray.__version__})
        return True

    def describe_need(self):
        return ", ".join("%s=%g" % item for item in sorted(self.need.items()))

    def version_mismatches(self):
        """Ray itself refuses a different Ray or Python patch level at connect; this also covers
        a cluster whose metadata Ray could not read then (ray.init only warns)."""
        try:
            from ray._common.usage import usage_lib
            metadata = usage_lib.get_cluster_metadata(ray._private.worker.global_worker.gcs_client) or {}
        except Exception as error:
            log("could not read the Ray cluster's versions: %r" % (error,))
            return []
        mine = {"ray": ray.__version__, "python": ".".join(map(str, sys.version_info[:2]))}
        theirs = {"ray": metadata.get("ray_version"), "python": ".".join(str(metadata.get("python_version", "")).split(".")[:2])}
        return ["%s: client %s, cluster %s" % (key, mine[key], theirs[key])
                for key in ("python", "ray") if theirs[key] and theirs[key] != mine[key]]

    def driver_gone(self):
        return os.getppid() != self.driver

    def wait_while_driver_lives(self, references, timeout):
        """The references ready within `timeout` (ray.wait, all of them), or None once the driver is gone."""
        deadline = time.monotonic() + timeout
        while True:
            ready, _ = ray.wait(references, num_returns=len(references), timeout=max(0.0, min(0.5, deadline - time.monotonic())))
            if self.driver_gone():
                return None
            if len(ready) == len(references) or time.monotonic() >= deadline:
                return ready

    def wait_for_capacity(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            try:
                slots = capacity(ray.nodes(), self.need)
            except Exception as error:
                log("could not list the Ray cluster's nodes: %r" % (error,))
                slots = 0
            if slots or time.monotonic() >= deadline or self.driver_gone():
                return slots
            time.sleep(0.25)

    def new_actor(self):
        o = self.options
        return self.actor_class.remote(o.executable, self.digest, o.handshake_timeout)

    # -- running ----------------------------------------------------------------------------------

    def submit(self, ident, payload, count, timeout, attempts, objects=()):
        """Puts a batch on the actor with the least work, or queues it (under self.lock).
        `objects`: the (id, ObjectRef) pairs of the objects it refers to."""
        slot = min(self.slots, key=lambda slot: len(slot.running))
        if len(slot.running) >= 2:
            self.waiting.append((ident, payload, count, timeout, attempts, objects))
            self.submissions[ident] = (payload, count, timeout, attempts, None, objects)
            return
        try:
            reference = slot.actor.run.remote(payload, count, timeout, ident, objects)
        except Exception as error:  # never let one bad submit kill the bridge (it would hang the driver)
            self.submissions.pop(ident, None)
            self.infrastructure(ident, TASK_LOST, "could not submit the batch to Ray: %r" % (error,))
            return
        slot.running[ident] = reference
        self.submissions[ident] = (payload, count, timeout, attempts, slot, objects)
        slot.actors[ident] = slot.actor

    def handle_completions(self):
        """Waits for the batches on the actors (ray.wait; ObjectRef.future() callbacks were seen
        to go missing at the end of long runs) and hands each back."""
        while True:
            with self.lock:
                running = {reference: (ident, slot) for slot in self.slots for ident, reference in slot.running.items()}
            if not running:
                time.sleep(0.002)
                continue
            try:
                ready, _ = ray.wait(list(running), num_returns=1, timeout=0.01)
            except Exception as error:
                log("ray.wait failed: %r" % (error,))
                time.sleep(0.1)
                continue
            for reference in ready:
                ident, slot = running[reference]
                try:
                    self.finished(ident, slot, slot.actors.get(ident), reference)
                except Exception as error:  # keep serving the other batches; the driver hears of this one
                    log("could not hand back batch %d: %r" % (ident, error))
                    try:
                        self.infrastructure(ident, BRIDGE_FAILED, "the Ray bridge failed on a result: %r" % (error,))
                    except OSError:
                        return

    def finished(self, ident, slot, actor, reference):
        try:
            status, body = ray.get(reference)
        except Exception as error:
            self.failed(ident, slot, actor, error)
            return
        with self.lock:
            slot.running.pop(ident, None)
            slot.actors.pop(ident, None)
            wanted = self.submissions.pop(ident, None) is not None
            self.dispatch_waiting()
        if wanted:
            self.result(ident, status, body)

    def failed(self, ident, slot, actor, error):
        """The actor (or its node) was lost: a new actor takes its slot and the batch runs again."""
        lost = isinstance(error, (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError)) \
            if hasattr(ray.exceptions, "ActorUnavailableError") else isinstance(error, ray.exceptions.RayActorError)
        with self.lock:
            slot.running.pop(ident, None)
            slot.actors.pop(ident, None)
            submission = self.submissions.pop(ident, None)
            if lost and slot.actor is actor:
                log("the Swift worker actor in slot %d was lost (%s); starting another" % (slot.index, type(error).__name__))
                try:
                    ray.kill(actor)
                except Exception as kill_error:
                    log("could not kill the lost actor: %r" % (kill_error,))
                slot.actor = self.new_actor()
            if submission is None:  # cancelled meanwhile
                self.dispatch_waiting()
                return
            payload, count, timeout, attempts, _, objects = submission
            if lost and attempts < ACTOR_LOSS_RETRIES and self.lost is None:
                self.submit(ident, payload, count, timeout, attempts + 1, objects)
                return
            self.dispatch_waiting()
        code = CLUSTER_LOST if self.lost else TASK_LOST
        self.infrastructure(ident, code, "Ray lost the batch %s: %s: %s"
                            % ("%d times" % (attempts + 1) if lost else "", type(error).__name__, error))

    def dispatch_waiting(self):
        """Moves queued batches onto actors with room (under self.lock)."""
        while self.waiting and min(len(slot.running) for slot in self.slots) < 2:
            ident, payload, count, timeout, attempts, objects = self.waiting.popleft()
            if ident in self.submissions:
                self.submit(ident, payload, count, timeout, attempts, objects)

    def cancel(self, idents):
        """Batches waiting here or queued at their actor never start; the Swift worker running
        one is killed by its actor. (No ray.cancel: see SwiftWorkerHost.cancelled.)"""
        with self.lock:
            for ident in idents:
                submission = self.submissions.pop(ident, None)
                if submission is None or submission[4] is None:
                    continue
                slot = submission[4]
                try:
                    slot.actor.cancel.options(concurrency_group="control").remote([ident])
                except Exception as error:
                    log("could not cancel batch %d: %r" % (ident, error))

    def abandon_pending(self, code, message, waited=None):
        """Fails every pending batch; with `waited`, only those that waited longer than the
        no-nodes timeout or their own (the call's) timeout."""
        def expired(submission):
            limit = self.options.no_nodes_timeout
            if submission[2] > 0:
                limit = min(limit, submission[2])
            return waited is None or waited > limit
        with self.lock:
            pending = {ident: item for ident, item in self.submissions.items() if expired(item)}
            for ident in pending:
                del self.submissions[ident]
        for ident in sorted(pending):
            self.infrastructure(ident, code, message)

    def watch(self):
        """The cluster gone, or no node able to host the actors: pending batches fail instead of
        waiting forever."""
        o = self.options
        unreachable_since = None
        no_nodes_since = None
        while True:
            time.sleep(0.5)
            now = time.monotonic()
            answer = {}

            def probe():
                try:
                    answer["nodes"] = ray.nodes()
                except Exception as error:
                    answer["error"] = error

            thread = threading.Thread(target=probe, daemon=True)
            thread.start()
            thread.join(2.0)
            if "nodes" not in answer:
                unreachable_since = unreachable_since or now
                if now - unreachable_since > o.connect_timeout:
                    self.lost = "lost the connection to the Ray cluster at %s (%s)" % (
                        o.address, answer.get("error", "no answer"))
                    self.abandon_pending(CLUSTER_LOST, self.lost)
                    return
                continue
            unreachable_since = None
            if capacity(answer["nodes"], self.need):
                no_nodes_since = None
                continue
            no_nodes_since = no_nodes_since or now
            self.abandon_pending(NO_WORKERS, "the Ray cluster at %s has had no node that can host a Swift worker "
                                 "(%s) for %.0f s; the batch was abandoned" % (o.address, self.describe_need(), now - no_nodes_since),
                                 waited=now - no_nodes_since)

    def serving(self):
        threading.Thread(target=self.watch, daemon=True).start()
        threading.Thread(target=self.handle_completions, daemon=True).start()

    def on_submit(self, ident, payload, count, timeout, idents):
        missing = [object_id for object_id in idents if object_id not in self.objects]
        if self.lost or missing:
            self.infrastructure(ident, CLUSTER_LOST if self.lost else TASK_LOST, self.lost or (
                "the batch refers to a large argument that Ray could not store: %s"
                % self.object_errors.get(missing[0], "object %d is unknown to the bridge" % missing[0])))
            return
        objects = tuple((object_id, self.objects[object_id]) for object_id in idents)
        with self.lock:
            self.submit(ident, payload, count, timeout, 0, objects)

    def on_cancel(self, idents):
        self.cancel(idents)

    def on_object(self, object_id, body, offset):
        self.put_object(object_id, body, offset)

    def on_release(self, idents):
        self.release(idents)

    def put_object(self, object_id, body, offset):
        """Puts a large argument (`body` from `offset`) in Ray's object store, once per call: as a
        numpy array of bytes (out of band, so that actors read it zero-copy from their node's store)."""
        try:
            import numpy  # a dependency of Ray
            self.objects[object_id] = ray.put(numpy.frombuffer(body, dtype=numpy.uint8, offset=offset))
            self.puts += 1
            self.put_bytes += len(body) - offset
        except Exception as error:  # the submissions that refer to it fail with this
            log("could not put a large argument (%d bytes) in Ray's object store: %r" % (len(body) - offset, error))
            self.object_errors[object_id] = repr(error)

    def release(self, idents):
        """The driver no longer needs these objects: Ray frees them once the actors' views are
        gone, and each actor closes its memory files for them (after its running batch)."""
        for object_id in idents:
            self.objects.pop(object_id, None)
            self.object_errors.pop(object_id, None)
        for slot in self.slots:
            try:
                slot.actor.release.remote(list(idents))
            except Exception as error:
                log("could not tell an actor to release its objects: %r" % (error,))

    def statistics(self):
        """The counters of the STATISTICS answer (tests): objects put and held, and per actor
        `pid:objects placed now:objects ever placed`."""
        values = {"puts": self.puts, "put_bytes": self.put_bytes, "objects": len(self.objects)}
        try:
            answers = ray.get([slot.actor.statistics.options(concurrency_group="control").remote()
                               for slot in self.slots], timeout=10)
        except Exception as error:
            log("could not ask the actors for their counters: %r" % (error,))
            answers = []
        values["actors"] = ",".join("%d:%d:%d" % answer for answer in answers)
        return values

    def close(self):
        if not ray.is_initialized():
            return
        actors = [slot.actor for slot in self.slots]
        try:
            ray.wait([actor.stop.remote() for actor in actors], num_returns=len(actors), timeout=2.0)
        except Exception as error:
            log("could not stop the Swift workers: %r" % (error,))
        for actor in actors:
            try:
                ray.kill(actor)
            except Exception as error:
                log("could not remove a Swift worker actor: %r" % (error,))
        try:
            ray.shutdown()
        except Exception as error:
            log("could not disconnect from Ray: %r" % (error,))


def main():
    parser = bridge_arguments("Ray", pinned_version="2.60.0")
    parser.add_argument("--address", required=True)
    parser.add_argument("--namespace", default="")
    parser.add_argument("--no-nodes-timeout", type=float, default=30)
    parser.add_argument("--start-wait", type=float, default=30)
    parser.add_argument("--num-cpus", type=float, default=1)
    parser.add_argument("--resources", default="{}")
    parser.add_argument("--max-workers", type=int, default=0)
    parser.add_argument("--runtime-env", default="")
    options = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    bridge = Bridge(options)
    # Bounded: against a cluster that is gone, Ray's calls can wait for minutes.
    run_bridge("Ray", bridge, close=bridge.close if IMPORT_ERROR is None else None, close_within=5.0)
    # Ray's threads may keep the interpreter alive after ray.shutdown(): leave now.
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
