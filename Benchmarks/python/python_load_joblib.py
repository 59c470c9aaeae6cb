"""Python joblib's side of the `python-load` benchmark workload (joblib-bench drives it).

Writes one float64 array of JOBLIB_BENCH_PYTHON_BYTES bytes (default 1e9, uniform [0, 1)) with
joblib.dump, uncompressed, then answers one command per line on stdin, so that the Swift reader and
joblib.load alternate on the same file in the same machine state:

    load PATH   -> seconds of joblib.load(PATH); the array is freed inside the timing
    mmap PATH   -> seconds of joblib.load(PATH, mmap_mode="r")
    quit

The first line printed is "ready PATH SUM" once the file is written (SUM: the array's sum, which
the Swift side checks).
"""

import os
import sys
import time

import joblib
import numpy as np

nbytes = int(os.environ.get("JOBLIB_BENCH_PYTHON_BYTES", "1000000000"))
path = sys.argv[1]
a = np.random.default_rng(0).random(nbytes // 8)
joblib.dump(a, path)
total = float(a.sum())
del a
print(f"ready {path} {total!r}", flush=True)

for line in sys.stdin:
    words = line.split()
    if not words or words[0] == "quit":
        break
    t0 = time.perf_counter()
    if words[0] == "load":
        b = joblib.load(words[1])
        del b
    elif words[0] == "mmap":
        b = joblib.load(words[1], mmap_mode="r")
        elapsed = time.perf_counter() - t0
        del b
        print(f"{elapsed:.9f}", flush=True)
        continue
    print(f"{time.perf_counter() - t0:.9f}", flush=True)
