"""Python joblib's side of the `persist` benchmark workload (joblib-bench drives it).

The same array as the Swift side: JOBLIB_BENCH_PERSIST_BYTES bytes of float64 (default 1e9), in
1 MB blocks, even blocks uniform [0, 1), odd blocks zeros (the shape of the Swift workload `persist`).

joblib-bench runs this script once and sends it one command per line on stdin, alternating each
repetition with its own Swift measurement, so that both sides see the same machine state (the
driver removes files and calls sync() before each timed step, outside the timing). Each command
answers one line on stdout:

    dump LABEL PATH        -> seconds of joblib.dump(a, PATH, compress=...) (PATH may exist: then
                              joblib truncates it, as `open(PATH, "wb")` does)
    durable PATH           -> seconds of joblib.dump(a, PATH) + fsync(file) + fsync(directory)
                              (what swift-joblib's default `durable: true` does)
    load PATH              -> seconds of joblib.load(PATH); the array is freed inside the timing,
                              as on the Swift side
    mmap PATH              -> "OPEN_SECONDS SUM_SECONDS" of joblib.load(PATH, mmap_mode="r") and
                              of summing every element
    quit

The first line printed is "ready BYTES" once the array is built. LABEL is raw, zlib3 or lz4.
"""

import os
import sys
import time

import joblib
import numpy as np

nbytes = int(os.environ.get("JOBLIB_BENCH_PERSIST_BYTES", "1000000000"))
per_block = 125_000
blocks = nbytes // 1_000_000
a = np.zeros(blocks * per_block)
v = a.reshape(blocks, per_block)
v[0::2] = np.random.default_rng(0).random((len(range(0, blocks, 2)), per_block))
expected = float(a.sum())
compressions = {"raw": 0, "zlib3": ("zlib", 3), "lz4": ("lz4", 1)}


def fsync_path(path, directory=False):
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def run(words):
    command = words[0]
    if command == "dump":
        label, path = words[1], words[2]
        t0 = time.perf_counter()
        joblib.dump(a, path, compress=compressions[label])
        return f"{time.perf_counter() - t0:.9f}"
    if command == "durable":
        path = words[1]
        t0 = time.perf_counter()
        joblib.dump(a, path, compress=0)
        fsync_path(path)
        fsync_path(os.path.dirname(path), directory=True)
        return f"{time.perf_counter() - t0:.9f}"
    if command == "load":
        path = words[1]
        t0 = time.perf_counter()
        joblib.load(path)  # freed at once, inside the timing
        return f"{time.perf_counter() - t0:.9f}"
    if command == "mmap":
        path = words[1]
        t0 = time.perf_counter()
        m = joblib.load(path, mmap_mode="r")
        t1 = time.perf_counter()
        total = float(m.sum())
        t2 = time.perf_counter()
        assert abs(total - expected) <= 1e-6 * abs(expected), "mapped sum differs"
        del m
        return f"{t1 - t0:.9f} {t2 - t1:.9f}"
    raise ValueError(f"unknown command {command!r}")


print(f"ready {a.nbytes}", flush=True)
for line in sys.stdin:
    words = line.split()
    if not words:
        continue
    if words[0] == "quit":
        break
    print(run(words), flush=True)
