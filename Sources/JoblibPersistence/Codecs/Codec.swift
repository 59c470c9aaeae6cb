/// Where compressed (or uncompressed) bytes go as a stream is produced.
typealias ByteOutput = (UnsafeRawBufferPointer) throws -> Void

/// Compresses a stream piece by piece, so memory stays bounded whatever the size of the input.
protocol StreamCompressor: AnyObject {
    /// Compresses `input`, handing compressed bytes to `output` as they are produced.
    func compress(_ input: UnsafeRawBufferPointer, output: ByteOutput) throws
    /// Ends the stream, handing the last bytes to `output`.
    func finish(output: ByteOutput) throws
}

/// Decompresses a stream piece by piece into a growing buffer.
protocol StreamDecompressor: AnyObject {
    /// Decompresses from `input` into `output`, at most about one chunk (`decompressorChunkSize`)
    /// of output per call, so that the caller can look at what came out (a decompression bomb is
    /// stopped after its first chunk). Returns how many input bytes were used and whether the
    /// compressed stream ended (then any unused input follows the stream). A call that uses no
    /// input and produces nothing needs more input.
    func decompress(_ input: UnsafeRawBufferPointer, into output: ByteBuffer) throws -> (consumed: Int, finished: Bool)
}

/// Output chunk size of compressors: large enough that the per-call overhead vanishes.
let compressorChunkSize = 1 << 20
/// The least free space a decompressor asks the output buffer for.
let decompressorChunkSize = 1 << 20

func makeCompressor(_ compression: Compression) throws -> (any StreamCompressor)? {
    switch compression.algorithm {
    case .none, .automatic: nil
    case .zlib: try ZlibCompressor(level: compression.level, gzip: false)
    case .gzip: try ZlibCompressor(level: compression.level, gzip: true)
    case .bz2: try Bzip2Compressor(level: compression.level)
    case .xz: try LzmaCompressor(.xz, level: compression.level)
    case .lzma: try LzmaCompressor(.alone, level: compression.level)
    case .lz4: try Lz4Compressor(level: compression.level)
    case .zstd: try ZstdCompressor(level: compression.level)
    }
}

func makeDecompressor(_ algorithm: Compression.Algorithm) throws -> (any StreamDecompressor)? {
    switch algorithm {
    case .none, .automatic: nil
    case .zlib, .gzip: try ZlibDecompressor()
    case .bz2: try Bzip2Decompressor()
    case .xz, .lzma: try XzDecompressor()
    case .lz4: try Lz4Decompressor()
    case .zstd: try ZstdDecompressor()
    }
}

func compressionFailure(_ codec: String, _ detail: String) -> PersistenceError {
    PersistenceError(.compressionFailed, "\(codec) compression failed: \(detail)")
}

func decompressionFailure(_ codec: String, _ detail: String) -> PersistenceError {
    PersistenceError(.decompressionFailed, "the \(codec) stream is invalid: \(detail)")
}

/// A reusable output chunk for compressors.
final class OutputChunk {
    let pointer = UnsafeMutableRawPointer.allocate(byteCount: compressorChunkSize, alignment: 64)
    let capacity = compressorChunkSize
    deinit { pointer.deallocate() }
    func emit(_ count: Int, to output: ByteOutput) throws {
        if count > 0 { try output(UnsafeRawBufferPointer(start: pointer, count: count)) }
    }
}
