#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import JoblibCoding
import JoblibSystem
import SystemPackage

/// Saves any `Encodable` value to a file, as Python's `joblib.dump` does.
///
/// ```swift
/// try dump(model, to: "model.joblib")                               // uncompressed, mappable
/// try dump(model, to: "model.joblib", compression: .zstd(level: 3)) // smaller
/// try dump(model, to: "model.joblib.gz")                            // gzip, from the extension
/// ```
///
/// Numeric arrays of 512 bytes or more inside the value (`[Double]`, ``NDArray``, `Data` …) are
/// written as raw 64-byte-aligned sections with an XXH3-128 checksum each, straight from the
/// value's memory (also through a compressor, in pieces: memory stays bounded). The write is
/// atomic: the bytes go to a temporary file in the same directory that is renamed over `path`
/// at the end, so a crash never leaves a partial file under that name.
///
/// - Parameters:
///   - value: What to save.
///   - path: The file to create or replace.
///   - compression: How to compress; ``Compression/automatic`` (the default) chooses from the
///     extension (`.z .gz .bz2 .xz .lzma .lz4 .zst`) and is ``Compression/none`` for other names.
///   - durable: Whether to `fsync` the file and its directory before returning (the default), so
///     that the file survives a power loss or a crash of the machine. `false` leaves the data in
///     the page cache, which is faster (about twice, for large files) but may lose a recent save.
/// - Throws: ``PersistenceError`` with code `invalidArgument` (compression level out of range),
///   `encodingFailed`, `compressionFailed` or `io`.
public func dump(_ value: some Encodable, to path: FilePath, compression: Compression = .automatic, durable: Bool = true) throws {
    do {
        let compression = try compression.validated(for: path)
        try writeDumpFile(to: path, durable: durable) { sink in try writeContainer(value, into: sink, compression: compression) }
    } catch {
        throw PersistenceError.wrapping(error, path: path.string, decoding: false)
    }
}

/// Saves any `Encodable` value to a file; see ``dump(_:to:compression:durable:)-(_,FilePath,_,_)``.
public func dump(_ value: some Encodable, to path: String, compression: Compression = .automatic, durable: Bool = true) throws {
    try dump(value, to: FilePath(path), compression: compression, durable: durable)
}

/// Encodes a value into the bytes `dump` would write to a file, for storing or sending elsewhere.
///
/// - Throws: ``PersistenceError`` with code `invalidArgument`, `encodingFailed` or `compressionFailed`.
public func dump(_ value: some Encodable, compression: Compression = .none) throws -> Data {
    do {
        let buffer = ByteBuffer()
        try writeContainer(value, into: RawSink(memory: buffer), compression: compression.validated())
        return Data(buffer.bytes)
    } catch {
        throw PersistenceError.wrapping(error, path: nil, decoding: false)
    }
}

/// Writes a file of either format to `path` atomically: `write` fills it through a sink.
func writeDumpFile(to path: FilePath, durable: Bool, _ write: (RawSink) throws -> Void) throws {
    // The data reaches the disk before this returns when durable, and on ext4 during the
    // rename when it replaces a file: then start writing it back while it is being written.
    let earlyWriteback = durable || (try? fileStatus(path)) != nil
    try writeFileAtomically(to: path, durable: durable) { fd in try write(RawSink(fd: fd, earlyWriteback: earlyWriteback)) }
}

func writeContainer<Value: Encodable>(_ value: Value, into sink: RawSink, compression: Compression) throws {
    let typeName = String(reflecting: Value.self)
    var declaredLength: Int?
    if compression.algorithm != .none {
        // The header, compressed first, declares the length: measure it with a writer that only counts.
        let measure = try ContainerWriter(sink: nil, compression: .none, typeName: typeName)
        try measure.finish(value: try measure.encoder.encode(value, sections: measure))
        declaredLength = measure.length
    }
    let writer = try ContainerWriter(sink: sink, compression: compression, typeName: typeName, declaredLength: declaredLength)
    let valueBytes = try writer.encoder.encode(value, sections: writer)
    try writer.finish(value: valueBytes)
}
