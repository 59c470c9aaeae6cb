/// The file format `dump` writes.
///
/// ```swift
/// try dump(model, to: "model.joblib")                                             // ours
/// try dump(features, to: "for-python.joblib", compression: .zlib(level: 3), format: .pythonJoblib)
/// ```
///
/// `load` reads both, recognising each from the file's bytes.
public enum FileFormat: Sendable, Hashable {
    /// swift-joblib's container (FileFormat.md): checksummed, 64-byte-aligned array sections,
    /// any `Codable` value. The default.
    case joblib
    /// The format of Python's `joblib.dump` (PickleFormat.md in JoblibPickle), which Python's
    /// `joblib.load` reads: structs and dictionaries as dicts, numeric arrays and `NDArray`s as
    /// numpy arrays (mappable with `mmap_mode="r"` when uncompressed), strings, numbers, bools,
    /// nil as `None`. Only plain data is written. Every compression but zstd (which joblib does
    /// not read).
    case pythonJoblib
}
