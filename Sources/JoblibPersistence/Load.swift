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
    return bytes.loadUnaligned(as: UInt64.self) == containerMagicWord
}

private let containerMagicWord: UInt64 = containerMagic.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }

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

/// Sets the *checksums stale* flag of a container mapped read-write, with the checksums that
/// cover the flags (the trailer's, and the header's from version 2 on).
private func markChecksumsStale(_ region: MemoryMapping, layout: ContainerLayout) {
    let flags = layout.flags | ContainerFlags.checksumsStale
    let trailerStart = region.count - trailerSize
    let checksum = trailerChecksum(region.bytes[trailerStart..<trailerStart + 48], version: layout.header.version, flags: flags)
    region.mutableBytes.storeBytes(of: flags.littleEndian, toByteOffset: 10, as: UInt16.self)
    region.mutableBytes.storeBytes(of: checksum.littleEndian, toByteOffset: trailerStart + 48, as: UInt64.self)
    if layout.header.version >= 2 {
        let header = headerChecksum(region.bytes[0..<56], name: region.bytes[preambleSize..<layout.header.end])
        region.mutableBytes.storeBytes(of: header.littleEndian, toByteOffset: 56, as: UInt64.self)
    }
}

/// Reads a whole uncompressed container into `space` (the file's size) and hashes its array
/// sections on the way, piece by piece while each piece is still in cache: the checksum pass then
/// costs no second trip through memory. Returns the bytes read and the digests by section offset.
///
/// The trailer and section table, at the end of the file, are read first to learn where the
/// sections are. Nothing read here is trusted: `parseContainer` checks the whole buffer afterwards,
/// and a digest is only used for a section whose checked offset and length match the range hashed.
/// A file whose table does not make sense here is simply read whole, without digests.
private func readHashingSections(
    _ fd: FileDescriptor, into space: UnsafeMutableRawBufferPointer
) throws -> (count: Int, digests: [Int: (byteCount: Int, digest: HashDigest)]) {
    let size = space.count
    func readAll() throws -> (count: Int, digests: [Int: (byteCount: Int, digest: HashDigest)]) {
        (try fd.readFully(into: space, at: 0), [:])
    }
    guard size >= preambleSize + trailerSize else { return try readAll() }
    let trailerStart = size - trailerSize
    guard try fd.readFully(into: UnsafeMutableRawBufferPointer(rebasing: space[trailerStart...]), at: trailerStart) == trailerSize
    else { return try readAll() }
    let bytes = UnsafeRawBufferPointer(space)
    let valueOffset = bytes.readLittleEndian(UInt64.self, at: trailerStart)
    let tableOffset = bytes.readLittleEndian(UInt64.self, at: trailerStart + 16)
    let sectionCount = bytes.readLittleEndian(UInt64.self, at: trailerStart + 24)
    guard valueOffset >= UInt64(preambleSize), valueOffset <= tableOffset, tableOffset <= UInt64(trailerStart),
          sectionCount <= (UInt64(trailerStart) - tableOffset) / UInt64(sectionEntrySize)
    else { return try readAll() }
    let metadataStart = Int(valueOffset)
    guard try fd.readFully(into: UnsafeMutableRawBufferPointer(rebasing: space[metadataStart..<trailerStart]), at: metadataStart)
        == trailerStart - metadataStart
    else { return try readAll() }

    // The sections as the table describes them, in file order, within the part still to read.
    var sections: [(offset: Int, end: Int)] = []
    var previousEnd = 0
    for index in 0..<Int(sectionCount) {
        let at = Int(tableOffset) + index * sectionEntrySize
        let offset = bytes.readLittleEndian(UInt64.self, at: at), byteCount = bytes.readLittleEndian(UInt64.self, at: at + 8)
        guard offset >= UInt64(previousEnd), offset <= valueOffset, byteCount <= valueOffset - offset else {
            return try readAll()
        }
        sections.append((Int(offset), Int(offset + byteCount)))
        previousEnd = Int(offset + byteCount)
    }

    // Read the front in pieces and hash the section bytes of each piece while it is still in
    // cache: on a second thread that follows the reads when the file is large and there is a
    // second CPU (the hash then costs no time), else right after each read.
    let hasher = SectionHasher(bytes: UnsafeRawBufferPointer(rebasing: bytes[..<metadataStart]), sections: sections)
    let helper = metadataStart >= 32 << 20 && cpuCount() > 1 ? HashingThread(hasher) : nil
    defer { helper?.finish() }
    let piece = 2 << 20
    var position = 0
    while position < metadataStart {
        let end = min(position + piece, metadataStart)
        let got = try fd.readFully(into: UnsafeMutableRawBufferPointer(rebasing: space[position..<end]), at: position)
        guard got == end - position else { return (position + got, [:]) }  // shorter than its size: parse reports it
        position = end
        if let helper { helper.readable(upTo: end) } else { hasher.hash(upTo: end) }
    }
    helper?.finish()
    return (size, hasher.digests)
}

/// Hashes array sections of a buffer as it is filled front to back (see `readHashingSections`).
private final class SectionHasher: @unchecked Sendable {
    // @unchecked: used by one thread at a time, handed over under `HashingThread`'s lock.
    private let bytes: UnsafeRawBufferPointer
    private let sections: [(offset: Int, end: Int)]
    private var next = 0  // the first section not completely hashed
    private var stream: XXH3Stream?
    private var hashed = 0
    private(set) var digests: [Int: (byteCount: Int, digest: HashDigest)] = [:]

    init(bytes: UnsafeRawBufferPointer, sections: [(offset: Int, end: Int)]) {
        self.bytes = bytes
        self.sections = sections
    }

    /// Hashes the section bytes in `hashed..<end`, which the caller has filled.
    func hash(upTo end: Int) {
        while next < sections.count, sections[next].offset < end || sections[next].end <= end {
            let (start, stop) = sections[next]
            let from = max(start, hashed), to = min(stop, end)
            if from < to {
                if stream == nil { stream = XXH3Stream() }
                stream!.update(UnsafeRawBufferPointer(rebasing: bytes[from..<to]))
            }
            guard stop <= end else { break }
            digests[start] = (stop - start, stream?.digest() ?? xxh3Digest(UnsafeRawBufferPointer(rebasing: bytes[start..<start])))
            stream = nil
            next += 1
        }
        hashed = max(hashed, end)
    }
}

/// A thread that runs a `SectionHasher` behind the reads of another.
private final class HashingThread: @unchecked Sendable {
    // @unchecked: the fields are only used under `condition`'s lock.
    private let condition = ThreadCondition()
    private var readable = 0
    private var stopping = false
    private var running = true

    init?(_ hasher: SectionHasher) {
        do {
            try startDetachedThread(name: "joblib-hash") { [self] in
                var hashed = 0
                while true {
                    condition.lock()
                    while readable == hashed && !stopping { condition.wait() }
                    let target = readable, stop = stopping
                    condition.unlock()
                    if target > hashed {
                        hasher.hash(upTo: target)
                        hashed = target
                    } else if stop {
                        break
                    }
                }
                condition.withLock {
                    running = false
                    condition.broadcast()
                }
            }
        } catch {
            return nil
        }
    }

    /// Tells the thread that the buffer is filled up to `end`.
    func readable(upTo end: Int) {
        condition.withLock {
            readable = end
            condition.broadcast()
        }
    }

    /// Waits until the thread has hashed everything readable and ended; call before using the
    /// digests and before the buffer may go away. Idempotent.
    func finish() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while running { condition.wait() }
        condition.unlock()
    }
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

