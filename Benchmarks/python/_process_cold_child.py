"""Prints the time of the first Parallel(n_jobs=2) call in a fresh process (cold loky pool)."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _process_tasks import square  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402

start = time.perf_counter()
Parallel(n_jobs=2, backend="loky")(delayed(square)(i) for i in range(2))
print(time.perf_counter() - start)
