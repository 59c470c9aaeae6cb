"""joblib beside swift-joblib's process (loky) and thread (threading) workloads, in the same run.

Prints `name value unit` lines. Task functions live in _process_tasks.py next to this file so
that loky workers import them by reference, as a user's module would be.
"""
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _process_tasks import crash, make_array, spin, square, slice_sum  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402


def emit(name, value, unit):
    print(f"{name} {value:.6g} {unit}", flush=True)


def timed(fn, reps):
    runs = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return runs


def threading_figures(which):
    """The threading backend, as swift-joblib's `.threads` workloads measure it (jobs 2)."""
    parallel = Parallel(n_jobs=2, backend="threading")
    if "threading-overhead" in which:
        runs = timed(lambda: parallel(delayed(square)(i) for i in range(20_000)), 5)
        emit("threading-overhead", statistics.median(runs) / 20_000 * 1e6, "us/task")
    if "threading-warm" in which:
        parallel(delayed(square)(i) for i in range(2))
        runs = timed(lambda: parallel(delayed(square)(i) for i in range(2)), 200)
        emit("threading-warm-call", statistics.median(runs) * 1e3, "ms")
    if "threading-cpu" in which:
        # Pure-Python spinning holds the GIL: this is the speedup a joblib user gets from threads.
        sequential = timed(lambda: [spin(0.02) for _ in range(100)], 1)[0]
        runs = timed(lambda: parallel(delayed(spin)(0.02) for _ in range(100)), 2)
        emit("threading-cpu-speedup", sequential / min(runs), "x")


def main():
    which = set(sys.argv[1:])
    if any(name.startswith("threading-") for name in which):
        threading_figures(which)
        return
    parallel = Parallel(n_jobs=2, backend="loky")
    parallel(delayed(square)(i) for i in range(10))  # warm the executor

    if not which or "overhead" in which:
        runs = timed(lambda: parallel(delayed(square)(i) for i in range(20_000)), 3)
        emit("overhead", min(runs) / 20_000 * 1e6, "us/task")
    if not which or "warm" in which:
        runs = timed(lambda: parallel(delayed(square)(i) for i in range(2)), 30)
        emit("warm-call", statistics.median(runs) * 1e3, "ms")
    if not which or "cold" in which:
        child = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_process_cold_child.py")
        runs = []
        for _ in range(3):
            out = subprocess.run([sys.executable, child], check=True, capture_output=True, text=True).stdout
            runs.append(float(out.strip()))
        emit("cold-start", statistics.median(runs) * 1e3, "ms")
    if not which or "crash" in which:
        runs = []
        for _ in range(3):
            try:
                parallel(delayed(crash)(i) for i in range(4))
            except Exception:
                pass
            start = time.perf_counter()
            parallel(delayed(square)(i) for i in range(2))
            runs.append(time.perf_counter() - start)
        emit("after-crash", statistics.median(runs) * 1e3, "ms")
    if not which or "cpu" in which:
        sequential = timed(lambda: [spin(0.02) for _ in range(100)], 1)[0]
        runs = timed(lambda: parallel(delayed(spin)(0.02) for _ in range(100)), 2)
        emit("cpu-speedup", sequential / min(runs), "x")
    if not which or "large" in which:
        import numpy as np
        values = np.arange(100_000_000 // 8, dtype=np.float64)
        runs = timed(lambda: parallel(delayed(slice_sum)(values, part, 20) for part in range(20)), 3)
        emit("large-argument", statistics.median(runs), "s")
    if "large-result" in which:
        # Each task returns a 100 MB array, pickled back to the parent through loky's pipe.
        parallel(delayed(make_array)(i, 1000) for i in range(2))
        runs = timed(lambda: parallel(delayed(make_array)(i, 100_000_000 // 8) for i in range(4)), 3)
        emit("large-result", statistics.median(runs), "s")


if __name__ == "__main__":
    main()
