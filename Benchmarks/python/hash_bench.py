"""joblib.hash beside swift-joblib's hash workloads, in the same run.

Prints `name value unit` lines: `gigabyte` (GB/s over a 1 GiB float64 array) and `small-ints`
(ms for a list of 1M small integers), the shapes of the Swift workloads hash-1gb and
hash-small-ints.
"""
import sys
import time

import joblib
import numpy as np


def best(fn, reps):
    runs = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return min(runs)


def main():
    which = set(sys.argv[1:])
    if "gigabyte" in which:
        values = np.arange(1 << 27, dtype=np.float64)
        seconds = best(lambda: joblib.hash(values), 2)
        print(f"gigabyte {values.nbytes / seconds / 1e9:.6g} GB/s", flush=True)
    if "small-ints" in which:
        values = list(range(1_000_000))
        seconds = best(lambda: joblib.hash(values), 2)
        print(f"small-ints {seconds * 1e3:.6g} ms", flush=True)


if __name__ == "__main__":
    main()
