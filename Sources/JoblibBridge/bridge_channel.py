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

# Driver -> bridge frame kinds.
SUBMIT, CANCEL = 1, 2
# Bridge -> driver frame kinds.
READY, FAILED, RESULT = 1, 2, 3
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

    def send(self, kind, body):
        with self.out_lock:
            write_all(OUT_FD, struct.pack("<QB", len(body), kind) + body)

    def ready(self, info):
        """`info`: key=value pairs; `threads` is how many batches the cluster can run at once."""
        self.send(READY, "\n".join("%s=%s" % item for item in info.items()).encode())

    def fail(self, code, message):
        self.send(FAILED, struct.pack("<B", code) + message.encode("utf-8", "replace"))

    def result(self, ident, status, body):
        self.send(RESULT, struct.pack("<QB", ident, status) + body)

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
