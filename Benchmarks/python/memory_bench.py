"""Python joblib's Memory, measured the way joblib-bench measures swift-joblib's (same run).

usage: python3 memory_bench.py small|array|reduce   -> one JSON object on stdout.
The shapes of the Swift workloads memory-*: cache in a fresh folder under $TMPDIR (or /tmp),
verbose=0, f(x) = x * 2 over 1,000 distinct keys; a 100 MB float64 argument; reduce_size over
5,000 entries with a limit above the cache size (a scan that removes nothing).
"""
import json
import os
import shutil
import sys
import tempfile
import time

from joblib import Memory

ROUNDS = 3


def f(x):
    return x * 2


def shape_of(a):
    return a.shape


def fresh():
    return tempfile.mkdtemp(dir=os.environ.get("TMPDIR") or None, prefix="joblib-py-mem-")


def small():
    miss, hit = [], []
    for _ in range(ROUNDS):
        d = fresh()
        try:
            cf = Memory(d, verbose=0).cache(f)
            t0 = time.perf_counter()
            for i in range(1000):
                cf(i)
            t1 = time.perf_counter()
            for i in range(1000):
                cf(i)
            t2 = time.perf_counter()
            miss.append((t1 - t0) / 1000)
            hit.append((t2 - t1) / 1000)
        finally:
            shutil.rmtree(d, ignore_errors=True)
    return {"miss_us": sorted(miss)[1] * 1e6, "hit_us": sorted(hit)[1] * 1e6}


def array():
    import numpy as np
    arr = np.random.default_rng(0).random(100_000_000 // 8)
    d = fresh()
    try:
        cg = Memory(d, verbose=0).cache(shape_of)
        cg(arr)
        ts = []
        for _ in range(5):
            t0 = time.perf_counter()
            cg(arr)
            ts.append(time.perf_counter() - t0)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return {"hit_ms": sorted(ts)[2] * 1e3}


def reduce():
    d = fresh()
    try:
        mem = Memory(d, verbose=0)
        cf = mem.cache(f)
        for i in range(5000):
            cf(i)
        ts = []
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            mem.reduce_size(bytes_limit=10**12)
            ts.append(time.perf_counter() - t0)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return {"noop_ms": sorted(ts)[1] * 1e3}


if __name__ == "__main__":
    print(json.dumps({"small": small, "array": array, "reduce": reduce}[sys.argv[1]]()))
