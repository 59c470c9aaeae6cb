"""Python joblib's side of the `persist` benchmark workload (joblib-bench runs it).

The same array as the Swift side: JOBLIB_BENCH_PERSIST_BYTES bytes of float64 (default 1e9), in
1 MB blocks, even blocks uniform [0, 1), odd blocks zeros (as ../shared/bench/joblib/_common.py).
Prints `METRIC VALUE UNIT` lines; times are medians of the given repetitions, files in $TMPDIR.
"""

import os
import shutil
import statistics
import sys
import tempfile
import time

import joblib
import numpy as np

nbytes = int(os.environ.get("JOBLIB_BENCH_PERSIST_BYTES", "1000000000"))
per_block = 125_000
blocks = nbytes // 1_000_000
a = np.zeros(blocks * per_block)
v = a.reshape(blocks, per_block)
v[0::2] = np.random.default_rng(0).random((len(range(0, blocks, 2)), per_block))
size = a.nbytes
directory = tempfile.mkdtemp(prefix="joblib-bench-persist-py-")


def emit(metric, value, unit):
    print(f"{metric} {value:.6g} {unit}", flush=True)


def median_time(body, reps):
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        body()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


try:
    for label, compress, reps in [("raw", 0, 3), ("zlib3", ("zlib", 3), 1), ("lz4", ("lz4", 1), 3)]:
        path = os.path.join(directory, label + ".joblib")

        def write():
            if os.path.exists(path):
                os.remove(path)
            joblib.dump(a, path, compress=compress)

        emit(f"joblib.{label}.dump", size / median_time(write, reps) / 1e9, "GB/s")
        emit(f"joblib.{label}.size", os.path.getsize(path) / size * 100, "%")
        emit(f"joblib.{label}.load", size / median_time(lambda: joblib.load(path), reps) / 1e9, "GB/s")
        if label == "raw":
            def durable():
                write()
                fd = os.open(path, os.O_RDONLY)
                os.fsync(fd)
                os.close(fd)
            emit("joblib.raw.dump_fsync", size / median_time(durable, 2) / 1e9, "GB/s")
            opens, sums = [], []
            for _ in range(3):
                t0 = time.perf_counter()
                m = joblib.load(path, mmap_mode="r")
                t1 = time.perf_counter()
                float(m.sum())
                t2 = time.perf_counter()
                opens.append(t1 - t0)
                sums.append(t2 - t1)
                del m
            emit("joblib.mmap.open", statistics.median(opens) * 1e3, "ms")
            emit("joblib.mmap.sum", statistics.median(sums), "s")
        os.remove(path)
finally:
    shutil.rmtree(directory, ignore_errors=True)
