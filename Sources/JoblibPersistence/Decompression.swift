import JoblibSystem
import JoblibTypes
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
/// nil at the end of the input), bounded as described above, into `output`.
///
/// With `stopAfter`, it is a probe of what the stream starts with: it returns as soon as that
/// many bytes came out (or the stream ended), and neither decompresses nor checks the rest.
/// `output` holds what came out also when it throws (a probe may look at it).
///
/// - Throws: `notOurFile` (not a container), `tooLarge` (over `maximumSize`, or declared so),
///   `outOfMemory`, `truncated` (the stream stops early), `decompressionFailed` (invalid, longer
///   than declared, or followed by other bytes), `checksumMismatch` (a damaged header).
@discardableResult
func decompress(
    _ algorithm: Compression.Algorithm, maximumSize: Int, expecting content: ExpectedContent = .container,
    stopAfter: Int? = nil, into output: ByteBuffer = ByteBuffer(), next: () throws -> UnsafeRawBufferPointer?
) throws -> ByteBuffer {
    guard let decompressor = try makeDecompressor(algorithm) else { preconditionFailure("no decompressor for 'none'") }
    // A probe's decompressor writes little more than it asked for (see ByteBuffer.boundedFreeSpace).
    output.limit = min(maximumSize, stopAfter ?? .max)
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
        if let stopAfter, output.count >= stopAfter { return output }
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

/// Decompresses the file open as `fd` (of `size` bytes), reading it in pieces (small ones for a
/// probe, which `stopAfter` makes it; see the function above).
@discardableResult
func decompress(
    fd: FileDescriptor, size: Int, _ algorithm: Compression.Algorithm, maximumSize: Int,
    expecting content: ExpectedContent = .container, stopAfter: Int? = nil, into output: ByteBuffer = ByteBuffer()
) throws -> ByteBuffer {
    let pieceSize = stopAfter == nil ? 4 << 20 : 64 << 10
    let piece = UnsafeMutableRawBufferPointer.allocate(byteCount: min(pieceSize, max(size, 1)), alignment: 64)
    defer { piece.deallocate() }
    var offset = 0
    return try decompress(algorithm, maximumSize: maximumSize, expecting: content, stopAfter: stopAfter, into: output) {
        guard offset < size else { return nil }
        let count = try fd.readFully(into: UnsafeMutableRawBufferPointer(rebasing: piece[0..<min(piece.count, size - offset)]), at: offset)
        guard count > 0 else { return nil }
        offset += count
        return UnsafeRawBufferPointer(rebasing: piece[0..<count])
    }
}

/// Decompresses a whole stream held in memory (or probes it, with `stopAfter`).
@discardableResult
func decompress(
    _ bytes: UnsafeRawBufferPointer, _ algorithm: Compression.Algorithm, maximumSize: Int,
    expecting content: ExpectedContent = .container, stopAfter: Int? = nil, into output: ByteBuffer = ByteBuffer()
) throws -> ByteBuffer {
    var handed = false
    return try decompress(algorithm, maximumSize: maximumSize, expecting: content, stopAfter: stopAfter, into: output) {
        guard !handed else { return nil }
        handed = true
        return bytes
    }
}

/// The first `count` bytes (or fewer) that a compressed stream held in memory decompresses to,
/// whatever happens after them (damage later in the stream is not an error here).
func decompressedPrefix(_ bytes: UnsafeRawBufferPointer, _ algorithm: Compression.Algorithm, count: Int) -> [UInt8] {
    let output = ByteBuffer()
    // The answer is what came out before any failure, so the failure itself is not needed.
    _ = try? decompress(bytes, algorithm, maximumSize: .max, expecting: .anything, stopAfter: count, into: output)
    return Array(output.bytes.prefix(count))
}
