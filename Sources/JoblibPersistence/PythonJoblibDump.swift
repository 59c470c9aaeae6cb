#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import JoblibPickle
import JoblibSystem
import SystemPackage

/// Saves a value in the chosen ``FileFormat``: ours, or Python joblib's so that Python's
/// `joblib.load` reads it.
///
/// ```swift
/// struct Features: Encodable { var names: [String]; var matrix: NDArray<Double>; var note: String? }
/// try dump(features, to: "features.joblib", format: .pythonJoblib)
/// // Python: joblib.load("features.joblib", mmap_mode="r")["matrix"]  -> a mapped numpy array
/// ```
///
/// With ``FileFormat/pythonJoblib``, structs and dictionaries become dicts, `NDArray`s and arrays
/// of numbers numpy arrays (written through joblib's `NumpyArrayWrapper`, aligned, so that Python
/// can map them from an uncompressed file), other arrays lists, `Data` bytes and nil `None`
/// (optional fields included). A ``/JoblibPickle/PythonValue`` is written as it is, if it is plain data. The
/// file holds only plain data: loading it in Python imports nothing but numpy and joblib.
///
/// - Parameters:
///   - value: What to save.
///   - path: The file to create or replace (atomically, as `dump` always does).
///   - compression: ``Compression/automatic`` chooses from the extension. Python's joblib reads
///     every algorithm but zstd.
///   - format: ``FileFormat/joblib`` (ours) or ``FileFormat/pythonJoblib``.
///   - durable: Whether to `fsync` the file and its directory before returning.
/// - Throws: ``PersistenceError`` with code `invalidArgument` (zstd or a level out of range for
///   Python, or a bad level), `encodingFailed` (a value that is not plain data: a ``/JoblibPickle/PythonValue``
///   object or global, or a non-numeric numpy array), `compressionFailed` or `io`.
public func dump(
    _ value: some Encodable, to path: FilePath, compression: Compression = .automatic, format: FileFormat, durable: Bool = true
) throws {
    guard format == .pythonJoblib else {
        return try dump(value, to: path, compression: compression, durable: durable)
    }
    do {
        let compression = try pythonCompression(compression.validated(for: path))
        let python = try encodeForPython(value)
        try writeDumpFile(to: path, durable: durable) { sink in try writePythonJoblib(python, into: sink, compression: compression) }
    } catch {
        throw PersistenceError.wrapping(error, path: path.string, decoding: false)
    }
}

/// Saves a value in the chosen ``FileFormat``; see ``dump(_:to:compression:format:durable:)-(_,FilePath,_,_,_)``.
public func dump(
    _ value: some Encodable, to path: String, compression: Compression = .automatic, format: FileFormat, durable: Bool = true
) throws {
    try dump(value, to: FilePath(path), compression: compression, format: format, durable: durable)
}

/// The bytes `dump(_:to:compression:format:durable:)` would write, for storing or sending elsewhere.
///
/// - Throws: ``PersistenceError`` with code `invalidArgument`, `encodingFailed` or `compressionFailed`.
public func dump(_ value: some Encodable, compression: Compression = .none, format: FileFormat) throws -> Data {
    guard format == .pythonJoblib else { return try dump(value, compression: compression) }
    do {
        let compression = try pythonCompression(compression.validated())
        let python = try encodeForPython(value)
        let buffer = ByteBuffer()
        try writePythonJoblib(python, into: RawSink(memory: buffer), compression: compression)
        return Data(buffer.bytes)
    } catch {
        throw PersistenceError.wrapping(error, path: nil, decoding: false)
    }
}

private func pythonCompression(_ compression: Compression) throws(PersistenceError) -> Compression {
    guard compression.algorithm != .zstd else {
        throw PersistenceError(.invalidArgument, "Python's joblib cannot read zstd; choose zlib, gzip, bz2, xz or lz4 for format .pythonJoblib")
    }
    return compression
}

private func encodeForPython(_ value: some Encodable) throws -> PythonValue {
    do {
        return try PythonEncoding.encode(value)
    } catch let error as PickleError {
        throw persistenceError(error)
    }
}

private func writePythonJoblib(_ value: PythonValue, into sink: RawSink, compression: Compression) throws {
    let compressor = try makeCompressor(compression)
    do {
        try PickleWriter.write(value) { bytes in
            guard bytes.count > 0 else { return }
            if let compressor { try compressor.compress(bytes, output: sink.write) } else { try sink.write(bytes) }
        }
    } catch let error as PickleError {
        throw persistenceError(error)
    }
    try compressor?.finish(output: sink.write)
    try sink.flush()
}
