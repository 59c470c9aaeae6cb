#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import JoblibCoding
import JoblibSystem
import JoblibTypes
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
/// length, count and shape is checked before use, and the checksums of the header, the value and
/// each array are verified (mapped arrays excepted; see ``MappingMode``). The file is opened
/// without waiting on anything and must be a regular file: a FIFO, a device or a /proc file is
/// refused with `notRegularFile`. Memory is bounded by `maximumSize`: a compressed stream stops
/// as soon as its first bytes are not a container, or its container declares more, or it expands
/// past what its container declares.
///
/// - Parameters:
///   - type: The type to load; it must match the type that was saved.
///   - path: The file.
///   - mapping: nil reads everything into memory. A ``MappingMode`` maps ``NDArray`` sections
///     of an uncompressed file in place, in O(1) time and memory. A compressed file cannot be
///     mapped: it is decompressed into memory, and `onWarning` is called once to say so.
///   - maximumSize: The most bytes the load reads or decompresses into memory
///     (``defaultMaximumLoadSize`` by default, below the memory the process may use). Mapped
///     files do not count against it.
///   - onWarning: Receives warnings as one line each; by default they go to standard error.
/// - Throws: ``PersistenceError`` with code `notOurFile`, `newerFormatVersion`, `truncated`,
///   `checksumMismatch`, `typeMismatch`, `corruptHeader`, `decompressionFailed`, `tooLarge`,
///   `outOfMemory`, `unsupportedFeature` (a small array of an old file mapped `.readWrite`),
///   `notRegularFile` or `io`.
public func load<T: Decodable>(
    _ type: T.Type, from path: FilePath, mapping: MappingMode? = nil, maximumSize: ByteCount = defaultMaximumLoadSize,
    onWarning: (String) -> Void = writeWarningToStandardError
) throws -> T {
    do {
        let mode: FileDescriptor.AccessMode = mapping == .readWrite ? .readWrite : .readOnly
        return try withRegularFile(path, mode) { fd in
            try loadContainer(type, fd: fd, path: path, mapping: mapping, maximumSize: maximumSize.bytes, onWarning: onWarning)
        }
    } catch {
        throw PersistenceError.wrapping(error, path: path.string, decoding: true)
    }
}

/// Loads a value from a file; see ``load(_:from:mapping:maximumSize:onWarning:)-(_,FilePath,_,_,_)``.
public func load<T: Decodable>(
    _ type: T.Type, from path: String, mapping: MappingMode? = nil, maximumSize: ByteCount = defaultMaximumLoadSize,
    onWarning: (String) -> Void = writeWarningToStandardError
) throws -> T {
    try load(type, from: FilePath(path), mapping: mapping, maximumSize: maximumSize, onWarning: onWarning)
}

/// Loads a value from bytes that ``dump(_:compression:)`` produced (or a file's bytes).
///
/// - Parameters:
///   - type: The type to load; it must match the type that was saved.
///   - data: The bytes, compressed or not.
///   - maximumSize: The most bytes a compressed stream may decompress to.
/// - Throws: ``PersistenceError``, with the same codes as loading from a file.
public func load<T: Decodable>(_ type: T.Type, from data: Data, maximumSize: ByteCount = defaultMaximumLoadSize) throws -> T {
    do {
        let algorithm = Compression.detect(data.prefix(8))
        if isPythonPickle(data.prefix(2)) { return try data.withUnsafeBytes { try decodePythonJoblib(type, from: $0, owner: nil) } }
        if let algorithm, !data.starts(with: containerMagic) {
            let buffer = try data.withUnsafeBytes {
                try decompress($0, algorithm, maximumSize: maximumSize.bytes, expecting: .containerOrPythonPickle)
            }
            if isPythonPickle(buffer.bytes.prefix(2)) { return try decodePythonJoblib(type, from: buffer.bytes, owner: buffer) }
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

/// Loads a value from bytes that ``dump(_:compression:)`` produced, borrowed for the call: the
/// cache's hit path. An uncompressed container (the common case) is decoded in place, without
/// wrapping the bytes in a `Data` or probing compression magics; anything else takes the path
/// of ``load(_:from:maximumSize:)-(_,Data,_)``, with the same errors.
///
/// - Throws: ``PersistenceError``, with the same codes as loading from a file.
package func load<T: Decodable>(_ type: T.Type, fromBorrowed bytes: UnsafeRawBufferPointer, maximumSize: ByteCount = defaultMaximumLoadSize) throws -> T {
    if startsWithContainerMagic(bytes) {
        do {
            return try decodeContainer(type, from: bytes, owner: nil, verifySections: true)
        } catch {
            throw PersistenceError.wrapping(error, path: nil, decoding: true)
        }
    }
    let data = bytes.isEmpty
        ? Data()
        : Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: bytes.baseAddress!), count: bytes.count, deallocator: .none)
    return try load(type, from: data, maximumSize: maximumSize)
}

/// Whether `bytes` start with the container signature, compared without allocating.
private func startsWithContainerMagic(_ bytes: UnsafeRawBufferPointer) -> Bool {
    guard bytes.count >= 8 else { return false }
    return bytes.readLittleEndian(UInt64.self, at: 0) == containerMagicWord
}

/// The default warning handler of ``load(_:from:mapping:maximumSize:onWarning:)-(_,FilePath,_,_,_)``: one line on standard error.
public func writeWarningToStandardError(_ message: String) {
    writeLineToStandardError("swift-joblib warning: \(message)")
}

private func loadContainer<T: Decodable>(
    _ type: T.Type, fd: FileDescriptor, path: FilePath, mapping: MappingMode?, maximumSize: Int, onWarning: (String) -> Void
) throws -> T {
    let size = try fd.fileSize()
    var prefix = [UInt8](repeating: 0, count: min(size, 8))
    let got = try prefix.withUnsafeMutableBytes { try fd.readFully(into: $0, at: 0) }
    prefix.removeLast(prefix.count - got)

    // A file of Python's joblib.dump (PythonJoblibLoad.swift).
    if isPythonPickle(prefix) { return try loadPythonJoblib(type, fd: fd, size: size, mapping: mapping, maximumSize: maximumSize) }
    if !prefix.starts(with: containerMagic), let algorithm = Compression.detect(prefix) {
        if let mapping {
            onWarning("'\(path)' is compressed (\(algorithm.rawValue)) and cannot be memory-mapped; it was decompressed into memory instead of mapped \(mapping)")
        }
        let buffer = try decompress(fd: fd, size: size, algorithm, maximumSize: maximumSize, expecting: .containerOrPythonPickle)
        if isPythonPickle(buffer.bytes.prefix(2)) { return try decodePythonJoblib(type, from: buffer.bytes, owner: buffer) }
        return try decodeContainer(type, from: buffer.bytes, owner: buffer, verifySections: true)
    }
    try prefix.withUnsafeBytes { try checkSignature($0) }
    guard let mapping else {
        guard size <= maximumSize else {
            throw PersistenceError(
                .tooLarge, "the file holds \(size) bytes (\(ByteCount(bytes: size))), more than this load's maximumSize of \(ByteCount(bytes: maximumSize)); map it, or load it with a larger maximumSize")
        }
        // Not mapped: one read of the whole file into memory that NDArrays then keep in place
        // (the buffer is their owner), so each byte is copied once, as numpy's reader does, and
        // the section checksums are computed during the read. Other arrays copy their elements out.
        let buffer = ByteBuffer()
        try buffer.reserve(size)
        let space = UnsafeMutableRawBufferPointer(rebasing: try buffer.freeSpace(minimum: size)[0..<size])
        let (count, digests) = try readHashingSections(fd, into: space)
        buffer.commit(count)
        return try decodeContainer(type, from: buffer.bytes, owner: buffer, verifySections: true, knownDigests: digests)
    }
    let region = try MemoryMapping(fd: fd, offset: 0, count: size, access: mapping.access)
    if mapping == .readWrite {
        // Writes through the mapping will change section bytes: mark their checksums stale first.
        let layout = try parseContainer(region.bytes)
        if layout.flags & ContainerFlags.checksumsStale == 0 {
            markChecksumsStale(region, layout: layout)
        }
    }
    return try decodeContainer(type, from: region.bytes, owner: region, verifySections: false, mapping: mapping)
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

