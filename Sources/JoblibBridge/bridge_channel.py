# What every bridge shares on its driver side: the frame constants of BridgeProtocol.md, and the
# channel to the Swift driver (requests on descriptor 3, replies on descriptor 4).
#
# The driver runs this file, then swift_worker.py, then the backend's own script (dask_bridge.py,
# ray_bridge.py), all in one namespace: __main__. Dask and Ray ship what is defined in __main__ to
# their workers by value (cloudpickle), together with the globals it uses.

import argparse
import os
import queue
import struct
import sys
import threading

IN_FD, OUT_FD = 3, 4

# Driver -> bridge frame kinds (OBJECT to STATISTICS: bridges that take objects, BridgeProtocol.md).
SUBMIT, CANCEL, OBJECT, SUBMIT_USING_OBJECTS, RELEASE, STATISTICS = 1, 2, 3, 4, 5, 6
# Bridge -> driver frame kinds.
READY, FAILED, RESULT, COUNTERS = 1, 2, 3, 4
# Result statuses.
OK, WORKER_DIED, INFRASTRUCTURE = 0, 1, 2
# Codes of FAILED frames and INFRASTRUCTURE results (BridgeFailure on the Swift side; each backend
# maps them to its error type).
RUNTIME_MISSING, UNREACHABLE, VERSION_MISMATCH, NO_WORKERS, WORKER_START_FAILED, \
    TASK_LOST, CLUSTER_LOST, BRIDGE_FAILED = 1, 2, 3, 4, 5, 6, 7, 8


def log(message):
    """A line on the bridge's stderr, which the driver attaches to its errors."""
    try:
        sys.stderr.write("swift-joblib bridge: %s\n" % message)
        sys.stderr.flush()
    except Exception:  # stderr itself is gone: nowhere left to say it
        pass


def write_all(fd, data):
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class BridgeChannel:
    """Frames to and from the Swift driver. Replies may be sent from any thread."""

    def __init__(self):
        self.out_lock = threading.Lock()
        self.requests = queue.Queue()
        # Submissions the driver sent and neither got an answer nor cancelled, and the most at
        # once since the last STATISTICS (its answer's `in_flight`, `max_in_flight`).
        self.open = set()
        self.max_open = 0
        self.open_lock = threading.Lock()

    def send(self, kind, body):
        with self.out_lock:
            write_all(OUT_FD, struct.pack("<QB", len(body), kind) + body)

    def ready(self, info):
        """`info`: key=value pairs; `threads` is how many batches the cluster can run at once."""
        self.send(READY, "\n".join("%s=%s" % item for item in info.items()).encode())

    def fail(self, code, message):
        self.send(FAILED, struct.pack("<B", code) + message.encode("utf-8", "replace"))

    def result(self, ident, status, body):
        with self.open_lock:
            self.open.discard(ident)
        self.send(RESULT, struct.pack("<QB", ident, status) + body)

    def counters(self, values):
        """The answer to STATISTICS: key=value lines."""
        self.send(COUNTERS, "\n".join("%s=%s" % item for item in values.items()).encode())

    def infrastructure(self, ident, code, message):
        self.result(ident, INFRASTRUCTURE, struct.pack("<B", code) + message.encode("utf-8", "replace"))

    def read_requests(self):
        """Reads frames into `requests` until the driver closes descriptor 3; then puts None."""
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

    def start_reading(self):
        threading.Thread(target=self.read_requests, daemon=True).start()

    # -- the request loop ---------------------------------------------------------------------------
    # A backend's Bridge supplies `start()` (READY or FAILED), `serving()` (starts its threads),
    # `on_submit(ident, payload, count, timeout, objects)`, `on_cancel(idents)`, and, when it takes
    # objects, `on_object(object_id, body, offset)`, `on_release(object_ids)` and `statistics()`.

    def serve(self):
        """Hands the driver's requests to the backend, one at a time and in order, until the driver
        closes descriptor 3."""
        self.serving()
        while True:
            request = self.requests.get()
            if request is None:
                return
            kind, body = request
            if kind == SUBMIT or kind == SUBMIT_USING_OBJECTS:
                ident, count, timeout, objects, payload = submission(kind, body)
                with self.open_lock:
                    self.open.add(ident)
                    self.max_open = max(self.max_open, len(self.open))
                self.on_submit(ident, payload, count, timeout, objects)
            elif kind == CANCEL:
                idents = id_list(body)
                with self.open_lock:
                    self.open.difference_update(idents)
                self.on_cancel(idents)
            elif kind == OBJECT:
                self.on_object(id_list(body, count=1)[0], body, 8)
            elif kind == RELEASE:
                self.on_release(id_list(body))
            elif kind == STATISTICS:
                with self.open_lock:
                    values = {"in_flight": len(self.open), "max_in_flight": self.max_open}
                    self.max_open = len(self.open)
                values.update(self.statistics())
                self.counters(values)
            else:
                log("ignored a request of unknown kind %d (%d bytes)" % (kind, len(body)))

    def serving(self):
        pass

    def on_object(self, object_id, body, offset):
        log("ignored object %d: this bridge takes no objects" % object_id)

    def on_release(self, object_ids):
        pass

    def statistics(self):
        return {}


def id_list(body, offset=0, count=None):
    """Little-endian u64 ids from `offset`: `count` of them, or as many as the body holds (the
    bodies of CANCEL and RELEASE, the object ids of SUBMIT_USING_OBJECTS)."""
    if count is None:
        count = (len(body) - offset) // 8
    return struct.unpack_from("<%dQ" % count, body, offset)


def submission(kind, body):
    """(id, task count, per-task timeout, object ids, payload) of a SUBMIT or SUBMIT_USING_OBJECTS
    body (BridgeProtocol.md, "Frames"); the payload is the BatchMessage, passed on unparsed."""
    ident, count, timeout = struct.unpack_from("<QId", body)
    if kind == SUBMIT:
        return ident, count, timeout, (), body[20:]
    used, = struct.unpack_from("<I", body, 20)
    return ident, count, timeout, id_list(body, 24, used), body[24 + 8 * used:]


def bridge_arguments(backend, pinned_version):
    """The command line every bridge takes (see BridgeSettings on the Swift side); the backend's
    script adds its own arguments, then parses."""
    parser = argparse.ArgumentParser(description="swift-joblib's %s bridge (started by the Swift driver)" % backend)
    parser.add_argument("--executable", required=True)
    parser.add_argument("--check-executable", type=int, default=1)
    parser.add_argument("--connect-timeout", type=float, default=10)
    parser.add_argument("--handshake-timeout", type=float, default=30)
    parser.add_argument("--pinned-version", default=pinned_version)
    return parser


def run_bridge(backend, bridge, close, close_within=None):
    """Runs `bridge` (a BridgeChannel) for the driver: reads its requests, `start()`s it (which
    sends READY, or FAILED and returns False) and `serve()`s it until the driver closes descriptor
    3. An unexpected error is sent as FAILED (BRIDGE_FAILED), then raised, so that its traceback
    reaches stderr. `close` (None: nothing to close) runs in the end whatever happened; with
    `close_within`, it gets that many seconds and is then abandoned."""
    bridge.start_reading()
    try:
        if bridge.start():
            bridge.serve()
    except Exception as error:
        try:
            bridge.fail(BRIDGE_FAILED, "the %s bridge failed: %r" % (backend, error))
        except OSError:  # the driver is gone; the traceback still reaches stderr
            pass
        raise
    finally:
        if close is not None and close_within is None:
            close()
        elif close is not None:
            closing = threading.Thread(target=close, daemon=True)
            closing.start()
            closing.join(close_within)
            if closing.is_alive():
                log("gave up closing the %s session after %.0f s (the cluster does not answer)" % (backend, close_within))
