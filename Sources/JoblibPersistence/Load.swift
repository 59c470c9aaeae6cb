#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import JoblibCoding
import JoblibSystem
import SystemPackage

/// Loads a value that ``dump(_:to:compression:durable:)-(_,FilePath,_,_)`` saved, as Python's
/// `joblib.load` does, but safely: loading never runs code, and hostile files give errors.
///
/// ```swift
/// let model = try load(Model.self, from: "model.joblib")
/// let weights = try load(NDArray<Float>.self, from: "weights.joblib", mapping: .readOnly)
/// ```
///
/// The compression is recognised from the file's first bytes, whatever its name. Every offset,
/// length, count and shape is checked before use, memory allocated is bounded by the file's
/// (decompressed) content, and the checksums of the header, the value and each array are
/// verified (mapped arrays excepted; see ``MappingMode``).
///
/// - Parameters:
///   - type: The type to load; it must match the type that was saved.
///   - path: The file.
///   - mapping: nil reads everything into memory. A ``MappingMode`` maps ``NDArray`` sections
///     of an uncompressed file in place, in O(1) time and memory. A compressed file cannot be
///     mapped: it is decompressed into memory, and `onWarning` is called once to say so.
///   - onWarning: Receives warnings as one line each; by default they go to standard error.
/// - Throws: ``PersistenceError`` with code `notOurFile`, `newerFormatVersion`, `truncated`,
///   `checksumMismatch`, `typeMismatch`, `corruptHeader`, `decompressionFailed` or `io`.
public func load<T: Decodable>(
    _ type: T.Type, from path: FilePath, mapping: MappingMode? = nil,
    onWarning: (String) -> Void = writeWarningToStandardError
) throws -> T {
    do {
        let mode: FileDescriptor.AccessMode = mapping == .readWrite ? .readWrite : .readOnly
        return try withFileDescriptor(path, mode) { fd in
            try loadContainer(type, fd: fd, path: path, mapping: mapping, onWarning: onWarning)
        }
    } catch {
        throw PersistenceError.wrapping(error, path: path.string, decoding: true)
    }
}

/// Loads a value from a file; see ``load(_:from:mapping:onWarning:)-(_,FilePath,_,_)``.
public func load<T: Decodable>(
    _ type: T.Type, from path: String, mapping: MappingMode? = nil,
    onWarning: (String) -> Void = writeWarningToStandardError
) throws -> T {
    try load(type, from: FilePath(path), mapping: mapping, onWarning: onWarning)
}

/// Loads a value from bytes that ``dump(_:compression:)`` produced (or a file's bytes).
///
/// - Throws: ``PersistenceError``, with the same codes as loading from a file.
public func load<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
    do {
        let algorithm = Compression.detect(data.prefix(8))
        if let algorithm, !data.starts(with: containerMagic) {
            let buffer = try data.withUnsafeBytes { try decompress($0, algorithm) }
            return try decodeContainer(type, from: buffer.bytes, owner: buffer, verifySections: true)
        }
        return try data.withUnsafeBytes { bytes in
            try checkSignature(bytes)
            return try decodeContainer(type, from: bytes, owner: nil, verifySections: true)
        }
    } catch {
        throw PersistenceError.wrapping(error, path: nil, decoding: true)
    }
}

/// The default warning handler of ``load(_:from:mapping:onWarning:)-(_,FilePath,_,_)``: one line on standard error.
public func writeWarningToStandardError(_ message: String) {
    writeLineToStandardError("swift-joblib warning: \(message)")
}

private func loadContainer<T: Decodable>(
    _ type: T.Type, fd: FileDescriptor, path: FilePath, mapping: MappingMode?, onWarning: (String) -> Void
) throws -> T {
    let size = try fd.fileSize()
    var prefix = [UInt8](repeating: 0, count: min(size, 8))
    let got = try prefix.withUnsafeMutableBytes { try fd.readFully(into: $0, at: 0) }
    prefix.removeLast(prefix.count - got)

    if !prefix.starts(with: containerMagic), let algorithm = Compression.detect(prefix) {
        if let mapping {
            onWarning("'\(path)' is compressed (\(algorithm.rawValue)) and cannot be memory-mapped; it was decompressed into memory instead of mapped \(mapping)")
        }
        let buffer = try decompress(fd: fd, size: size, algorithm)
        return try decodeContainer(type, from: buffer.bytes, owner: buffer, verifySections: true)
    }
    try prefix.withUnsafeBytes { try checkSignature($0) }
    guard let mapping else {
        // Not mapped: one read of the whole file into memory that NDArrays then keep in place
        // (the buffer is their owner), so each byte is copied once, as numpy's reader does.
        // Other arrays copy their elements out.
        let buffer = ByteBuffer(capacity: size)
        let space = buffer.freeSpace(minimum: size)
        buffer.commit(try fd.readFully(into: UnsafeMutableRawBufferPointer(rebasing: space[0..<size]), at: 0))
        return try decodeContainer(type, from: buffer.bytes, owner: buffer, verifySections: true)
    }
    let region = try MemoryMapping(fd: fd, offset: 0, count: size, access: mapping.access)
    if mapping == .readWrite {
        // Writes through the mapping will change section bytes: mark their checksums stale first.
        let layout = try parseContainer(region.bytes)
        if layout.flags & ContainerFlags.checksumsStale == 0 {
            let flags = layout.flags | ContainerFlags.checksumsStale
            let trailerStart = region.count - trailerSize
            let checksum = trailerChecksum(
                region.bytes[trailerStart..<trailerStart + 48], version: containerFormatVersion, flags: flags)
            region.mutableBytes.storeBytes(of: flags.littleEndian, toByteOffset: 10, as: UInt16.self)
            region.mutableBytes.storeBytes(of: checksum.littleEndian, toByteOffset: trailerStart + 48, as: UInt64.self)
        }
    }
    return try decodeContainer(type, from: region.bytes, owner: region, verifySections: false)
}

/// Throws `notOurFile` (or `truncated`) unless `bytes` start like a container.
func checkSignature(_ bytes: UnsafeRawBufferPointer) throws(PersistenceError) {
    if bytes.starts(with: containerMagic) { return }
    if !bytes.isEmpty && bytes.count < containerMagic.count && containerMagic.starts(with: bytes) {
        throw PersistenceError(.truncated, "the file ends inside the container signature (\(bytes.count) bytes)")
    }
    if bytes.isEmpty { throw PersistenceError(.notOurFile, "the file is empty") }
    if bytes.first == 0x80 || Compression.detect(bytes) == nil && bytes.starts(with: [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]) {
        let what = bytes.first == 0x80 ? "a Python pickle (a joblib file written by Python?)" : "a .npy file (use NDArray(npyFrom:))"
        throw PersistenceError(.notOurFile, "the file is \(what), not a swift-joblib container")
    }
    throw PersistenceError(.notOurFile, "the file is not a swift-joblib container nor a compressed stream of one")
}

/// Reads a compressed file in pieces and decompresses it into a buffer.
func decompress(fd: FileDescriptor, size: Int, _ algorithm: Compression.Algorithm) throws -> ByteBuffer {
    guard let decompressor = try makeDecompressor(algorithm) else { preconditionFailure("no decompressor for 'none'") }
    let output = ByteBuffer()
    let pieceSize = 4 << 20
    let input = UnsafeMutableRawBufferPointer.allocate(byteCount: pieceSize, alignment: 64)
    defer { input.deallocate() }
    var fileOffset = 0
    while fileOffset < size {
        let count = try fd.readFully(into: input, at: fileOffset)
        guard count > 0 else { break }
        var used = 0
        while used < count {
            let (consumed, finished) = try decompressor.decompress(UnsafeRawBufferPointer(rebasing: input[used..<count]), into: output)
            used += consumed
            if finished {
                guard fileOffset + used == size else {
                    throw PersistenceError(.decompressionFailed, "\(size - fileOffset - used) bytes follow the end of the \(algorithm.rawValue) stream")
                }
                return output
            }
            if consumed == 0 { break }
        }
        fileOffset += used
        if used < count { break }
    }
    throw PersistenceError(.truncated, "the \(algorithm.rawValue) stream ends before it is complete: the file was cut short")
}

/// Decompresses a whole compressed stream held in memory.
private func decompress(_ bytes: UnsafeRawBufferPointer, _ algorithm: Compression.Algorithm) throws -> ByteBuffer {
    guard let decompressor = try makeDecompressor(algorithm) else { preconditionFailure("no decompressor for 'none'") }
    let output = ByteBuffer()
    var used = 0
    while used < bytes.count {
        let (consumed, finished) = try decompressor.decompress(UnsafeRawBufferPointer(rebasing: bytes[used...]), into: output)
        used += consumed
        if finished {
            guard used == bytes.count else {
                throw PersistenceError(.decompressionFailed, "\(bytes.count - used) bytes follow the end of the \(algorithm.rawValue) stream")
            }
            return output
        }
        if consumed == 0 { break }
    }
    throw PersistenceError(.truncated, "the \(algorithm.rawValue) stream ends before it is complete: the data was cut short")
}
