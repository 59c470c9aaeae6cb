import JoblibSystem
import SystemPackage

// Decompressing a container without trusting it (FileFormat.md, "Decompression bombs"). A small
// stream can expand to anything, so memory is bounded three ways, each as early as possible:
// the first decompressed bytes must be the container signature (a stream of anything else stops
// after its first chunk); a version-2 header declares the container's length, which is checked
// against the caller's `maximumSize` before it is allocated (once, exactly) and which the stream
// may not exceed; and a header that declares nothing (version 1) is bounded by `maximumSize`.
// Running out of memory anyway (an address-space limit) is the error `outOfMemory`, not a crash.

/// The default `maximumSize` of a load: three quarters of the memory this process may use (the
/// least of physical memory, its cgroup's limit and its address-space limit).
///
/// A load holds the whole container in memory (unless it is mapped), so a larger one could not be
/// loaded anyway; refusing it up front, with a message that says how to allow it, beats running
/// the machine out of memory.
public let defaultMaximumLoadSize = ByteCount(bytes: max(memoryLimitBytes() / 4 * 3, 1 << 20))

/// What a decompressed stream must hold.
enum ExpectedContent {
    /// A swift-joblib container: the signature is checked on the first bytes, the header's
    /// declared length bounds the rest.
    case container
    /// Anything (for formats of other readers); bounded by `maximumSize` only.
    case anything
    /// A container, checked as `container`, or a pickle of Python's joblib (PROTO 2 to 5 on the
    /// first bytes), bounded by `maximumSize` only: what `load` accepts.
    case containerOrPythonPickle
}

/// Decompresses a whole stream that `next` hands out in pieces (each valid until the next call,
/// nil at the end of the input), bounded as described above.
///
/// - Throws: `notOurFile` (not a container), `tooLarge` (over `maximumSize`, or declared so),
///   `outOfMemory`, `truncated` (the stream stops early), `decompressionFailed` (invalid, longer
///   than declared, or followed by other bytes), `checksumMismatch` (a damaged header).
func decompress(
    _ algorithm: Compression.Algorithm, maximumSize: Int, expecting content: ExpectedContent = .container,
    next: () throws -> UnsafeRawBufferPointer?
) throws -> ByteBuffer {
    guard let decompressor = try makeDecompressor(algorithm) else { preconditionFailure("no decompressor for 'none'") }
    let output = ByteBuffer()
    output.limit = maximumSize
    output.limitError = { limit in
        PersistenceError(
            .tooLarge,
            "the \(algorithm.rawValue) stream decompresses to more than \(limit) bytes, the most this load accepts (maximumSize); a decompression bomb, or a file to load with a larger maximumSize")
    }
    var signatureChecked = content == .anything
    var headerChecked = content == .anything
    var declaredLength: Int?
    func inspect(finished: Bool) throws {
        if !signatureChecked, output.count >= containerMagic.count || finished {
            if content == .containerOrPythonPickle, isPythonPickle(output.bytes.prefix(2)) {
                signatureChecked = true
                headerChecked = true
                return
            }
            guard output.bytes.starts(with: containerMagic) else {
                throw PersistenceError(.notOurFile, "the file is a \(algorithm.rawValue) stream of something other than a swift-joblib container")
            }
            signatureChecked = true
        }
        guard signatureChecked, !headerChecked, let header = try parseHeader(output.bytes, complete: finished) else { return }
        headerChecked = true
        guard let declared = header.declaredLength else { return }
        guard declared <= maximumSize else {
            throw PersistenceError(
                .tooLarge,
                "the container declares \(declared) bytes (\(ByteCount(bytes: declared))) once decompressed, more than this load's maximumSize of \(ByteCount(bytes: maximumSize)); load it with a larger maximumSize if you trust it")
        }
        declaredLength = declared
        output.limit = declared
        output.limitError = { limit in
            PersistenceError(.decompressionFailed, "the \(algorithm.rawValue) stream holds more than the \(limit) bytes its container declares: the file is corrupt")
        }
        try output.reserve(declared)
    }

    var input = UnsafeRawBufferPointer(start: nil, count: 0)
    var used = 0
    while true {
        if used == input.count {
            guard let more = try next() else {
                throw PersistenceError(.truncated, "the \(algorithm.rawValue) stream ends before it is complete: the file was cut short")
            }
            input = more
            used = 0
            continue
        }
        let before = output.count
        let (consumed, finished) = try decompressor.decompress(UnsafeRawBufferPointer(rebasing: input[used...]), into: output)
        used += consumed
        try output.checkLimit()
        try inspect(finished: finished)
        if finished {
            var trailing = input.count - used
            while let more = try next() { trailing += more.count }
            guard trailing == 0 else {
                throw PersistenceError(.decompressionFailed, "\(trailing) bytes follow the end of the \(algorithm.rawValue) stream")
            }
            if let declared = declaredLength, output.count < declared {
                throw PersistenceError(.truncated, "the \(algorithm.rawValue) stream holds \(output.count) of the \(declared) bytes its container declares")
            }
            return output
        }
        if consumed == 0 && output.count == before {
            // The decompressor used none of the input it was given and produced nothing.
            throw PersistenceError(.decompressionFailed, "the \(algorithm.rawValue) stream is invalid: the decoder makes no progress")
        }
    }
}

/// Decompresses the file open as `fd` (of `size` bytes), reading it in pieces.
func decompress(
    fd: FileDescriptor, size: Int, _ algorithm: Compression.Algorithm, maximumSize: Int,
    expecting content: ExpectedContent = .container
) throws -> ByteBuffer {
    let pieceSize = 4 << 20
    let piece = UnsafeMutableRawBufferPointer.allocate(byteCount: min(pieceSize, max(size, 1)), alignment: 64)
    defer { piece.deallocate() }
    var offset = 0
    return try decompress(algorithm, maximumSize: maximumSize, expecting: content) {
        guard offset < size else { return nil }
        let count = try fd.readFully(into: UnsafeMutableRawBufferPointer(rebasing: piece[0..<min(piece.count, size - offset)]), at: offset)
        guard count > 0 else { return nil }
        offset += count
        return UnsafeRawBufferPointer(rebasing: piece[0..<count])
    }
}

/// Decompresses a whole stream held in memory.
func decompress(
    _ bytes: UnsafeRawBufferPointer, _ algorithm: Compression.Algorithm, maximumSize: Int,
    expecting content: ExpectedContent = .container
) throws -> ByteBuffer {
    var handed = false
    return try decompress(algorithm, maximumSize: maximumSize, expecting: content) {
        guard !handed else { return nil }
        handed = true
        return bytes
    }
}

/// The first `count` bytes (or fewer) that a compressed stream held in memory decompresses to,
/// whatever happens after them (damage later in the stream is not an error here).
func decompressedPrefix(_ bytes: UnsafeRawBufferPointer, _ algorithm: Compression.Algorithm, count: Int) -> [UInt8] {
    guard let decompressor = try? makeDecompressor(algorithm) else { return [] }
    let output = ByteBuffer()
    var used = 0
    while output.count < count && used < bytes.count {
        let before = output.count
        guard let (consumed, finished) = try? decompressor.decompress(UnsafeRawBufferPointer(rebasing: bytes[used...]), into: output) else { break }
        used += consumed
        if finished || (consumed == 0 && output.count == before) { break }
    }
    return Array(output.bytes.prefix(count))
}
