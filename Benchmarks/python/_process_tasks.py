"""Tasks for process_bench.py, importable by loky workers."""
import os
import time


def square(i):
    return i * i


def spin(seconds):
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        x += 1
    return x


def crash(i):
    if i == 0:
        os._exit(1)
    return i


def slice_sum(values, part, parts):
    size = len(values) // parts
    return float(values[part * size:(part + 1) * size].sum())


def make_array(index, count):
    import numpy as np
    return np.full(count, float(index))
