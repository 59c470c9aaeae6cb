"""Python's side of the JoblibPickle tests: writes files with Python's joblib, and checks files
that Swift wrote. Run by the Swift tests (with a time limit); never loads a hostile file.

    joblib_files.py all-types DIR          every compression x protocol 2..5, all the types
    joblib_files.py sklearn DIR            fitted StandardScaler and LinearRegression, inputs, outputs
    joblib_files.py big DIR MEGABYTES      one uncompressed float64 array (for mapped loads)
    joblib_files.py hostile DIR MARKER     pickles whose loading in Python would run code
    joblib_files.py check-swift DIR        loads what Swift wrote; prints "ok NAME" per file
    joblib_files.py plain-pickles DIR      pickle.dump (not joblib) of numpy arrays, protocols 2..5
    joblib_files.py fuzz-corpus DIR        small files for the fuzzer (all the types, a fitted model)
"""

import collections
import io
import os
import pickle
import sys

import joblib
import numpy as np

COMPRESSIONS = {
    "none": 0,
    "zlib": ("zlib", 3),
    "gzip": ("gzip", 3),
    "bz2": ("bz2", 3),
    "xz": ("xz", 3),
    "lzma": ("lzma", 3),
    "lz4": ("lz4", 3),
}
# Other levels, at the default protocol.
LEVELS = [("zlib", 0), ("zlib", 1), ("zlib", 9), ("gzip", 9), ("bz2", 1), ("bz2", 9), ("xz", 0), ("xz", 9), ("lzma", 0), ("lz4", 0), ("lz4", 9)]


def all_types():
    return {
        "none": None,
        "true": True,
        "false": False,
        "int": 42,
        "negative": -7,
        "int64max": 2**63 - 1,
        "int64min": -(2**63),
        "big": 2**100,
        "bigneg": -(2**70) + 3,
        "float": 2.5,
        "inf": float("-inf"),
        "complex": complex(1.5, -2.0),
        "str": "h\u00e9llo \u2713",
        "empty": "",
        "bytes": b"\x00\x01xyz",
        "bytearray": bytearray(b"abc"),
        "list": [1, "two", 3.0, None],
        "tuple": (1, (2, 3)),
        "dict": {"a": 1, 2: "b"},
        "set": {1, 2, 3},
        "frozenset": frozenset({"x"}),
        "ordered": collections.OrderedDict([("z", 1), ("a", 2)]),
        "f64": np.arange(12, dtype="<f8").reshape(3, 4) / 4,
        "f32be": np.arange(6, dtype=">f4"),
        "f16": np.array([0.5, -1.0, 65504], dtype="<f2"),
        "i8": np.array([-128, 0, 127], dtype="i1"),
        "i16": np.array([-32768, 1, 32767], dtype="<i2"),
        "i32be": np.array([-(2**31), 1, 2**31 - 1], dtype=">i4"),
        "i64": np.array([-(2**62), 2**40, -1], dtype="<i8"),
        "u8": np.array([0, 255], dtype="u1"),
        "u16": np.array([0, 65535], dtype="<u2"),
        "u32": np.array([0, 2**32 - 1], dtype="<u4"),
        "u64": np.array([0, 2**64 - 1], dtype="<u8"),
        "bool": np.array([[True, False], [False, True]]),
        "c64": np.array([1 + 2j, -3.5j], dtype="<c8"),
        "c128be": np.array([1 + 2j, 0.25 - 1j], dtype=">c16"),
        "fortran": np.asfortranarray(np.arange(24, dtype="<i2").reshape(2, 3, 4)),
        "zero_d": np.array(3.25),
        "empty_array": np.zeros((0, 4)),
        "objects": np.array([1, "a", None], dtype=object),
        "objects2d": np.array([[1, "a"], [None, 2.5]], dtype=object),
        "scalar_f64": np.float64(2.5),
        "scalar_i32": np.int32(-5),
        "scalar_bool": np.bool_(True),
        "dtype": np.dtype(">i4"),
        "long": np.arange(100_000, dtype="<f8") * 0.5,
    }


def write_all_types(directory):
    value = all_types()
    for name, compress in COMPRESSIONS.items():
        for protocol in (2, 3, 4, 5):
            joblib.dump(value, os.path.join(directory, f"all-{name}-p{protocol}.joblib"), compress=compress, protocol=protocol)
    for name, level in LEVELS:
        joblib.dump(value, os.path.join(directory, f"all-{name}{level}-p4.joblib"), compress=(name, level))


def write_sklearn(directory):
    from sklearn.linear_model import LinearRegression
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(7)
    x = rng.normal(loc=[3.0, -1.0, 10.0, 0.5], scale=[2.0, 0.5, 4.0, 1.0], size=(200, 4))
    y = x @ np.array([1.5, -2.0, 0.25, 4.0]) + 0.75 + rng.normal(scale=0.1, size=200)
    scaler = StandardScaler().fit(x)
    model = LinearRegression().fit(scaler.transform(x), y)
    probe = rng.normal(size=(17, 4)) * 3
    joblib.dump(scaler, os.path.join(directory, "scaler.joblib"))
    joblib.dump(model, os.path.join(directory, "model.joblib"), compress=3)
    joblib.dump({"x": probe, "scaled": scaler.transform(probe), "predicted": model.predict(scaler.transform(probe))},
                os.path.join(directory, "expected.joblib"))


def write_big(directory, megabytes):
    joblib.dump(np.arange(megabytes * 131072, dtype="<f8"), os.path.join(directory, "big.joblib"))


def write_hostile(directory, marker):
    class System:
        def __reduce__(self):
            return (os.system, ("touch " + marker,))

    class Open:
        def __reduce__(self):
            return (open, (marker, "w"))

    class Eval:
        def __reduce__(self):
            return (eval, ("open(%r, 'w')" % marker,))

    class Popen:
        def __reduce__(self):
            import subprocess
            return (subprocess.Popen, (["touch", marker],))

    class Build:
        """A __reduce__ whose state would be applied by BUILD after an import."""
        def __reduce__(self):
            return (collections.OrderedDict, (), None, None, iter([("k", System())]))

    for protocol in (2, 4, 5):
        for name, value in [("system", System()), ("open", Open()), ("eval", Eval()), ("popen", Popen()), ("build", Build())]:
            with open(os.path.join(directory, f"{name}-p{protocol}.pkl"), "wb") as f:
                pickle.dump({"payload": value, "array": np.arange(3.0)}, f, protocol=protocol)
    # The same through joblib.dump (compressed and not): joblib.load would run them too.
    joblib.dump({"payload": System(), "array": np.arange(3.0)}, os.path.join(directory, "system-joblib.joblib"))
    joblib.dump({"payload": Open(), "array": np.arange(3.0)}, os.path.join(directory, "open-joblib.joblib"), compress=("zlib", 3))


def write_plain_pickles(directory):
    value = {
        "f64": np.arange(6.0).reshape(2, 3),
        "fortran": np.asfortranarray(np.arange(6, dtype="<i4").reshape(2, 3)),
        "be": np.arange(3, dtype=">f8"),
        "objects": np.array([1, None], dtype=object),
        "scalar": np.float32(1.5),
    }
    for protocol in (2, 3, 4, 5):
        with open(os.path.join(directory, f"plain-p{protocol}.pkl"), "wb") as f:
            pickle.dump(value, f, protocol=protocol)


def write_fuzz_corpus(directory):
    from sklearn.preprocessing import StandardScaler

    value = all_types()
    del value["long"]
    for protocol in (2, 4, 5):
        joblib.dump(value, os.path.join(directory, f"small-p{protocol}.joblib"), protocol=protocol)
    joblib.dump(value, os.path.join(directory, "small-zlib.joblib"), compress=("zlib", 1))
    joblib.dump(StandardScaler().fit(np.arange(12.0).reshape(4, 3)), os.path.join(directory, "scaler.joblib"))


def check_swift(directory):
    expected = {
        "name": "swift \u2713",
        "count": 3,
        "ratio": 0.5,
        "flag": True,
        "missing": None,
        "values": np.array([1.0, 2.5, -3.0]),
        "ints": np.array([1, -2, 3], dtype="<i8"),
        "floats": np.array([0.5, 1.5], dtype="<f4"),
        "matrix": np.arange(12, dtype="<f8").reshape(3, 4) / 8,
        "bytes": np.arange(5, dtype="u1"),
        "words": ["a", "b"],
        "nested": {"inner": [True, False]},
        "big": np.arange(300_000, dtype="<f8") / 3,
    }

    def same(a, b):
        if isinstance(b, np.ndarray):
            return isinstance(a, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
        if isinstance(b, dict):
            return isinstance(a, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in b)
        if isinstance(b, list):
            return isinstance(a, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
        return type(a) is type(b) and a == b

    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        modes = [None, "r"] if name.startswith("raw") else [None]
        for mode in modes:
            value = joblib.load(path, mmap_mode=mode)
            if not same(value, expected):
                print(f"mismatch {name} mmap={mode}: {value!r}")
                continue
            if mode == "r" and not isinstance(value["big"], np.memmap):
                print(f"notmapped {name}")
                continue
            print(f"ok {name}{' mmap' if mode else ''}")


if __name__ == "__main__":
    command, directory = sys.argv[1], sys.argv[2]
    if command == "all-types":
        write_all_types(directory)
    elif command == "sklearn":
        write_sklearn(directory)
    elif command == "big":
        write_big(directory, int(sys.argv[3]))
    elif command == "hostile":
        write_hostile(directory, sys.argv[3])
    elif command == "plain-pickles":
        write_plain_pickles(directory)
    elif command == "fuzz-corpus":
        write_fuzz_corpus(directory)
    elif command == "check-swift":
        check_swift(directory)
    else:
        sys.exit(f"unknown command {command}")
    print("done")
