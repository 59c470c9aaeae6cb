import CZstd

/// Zstandard frames through libzstd's streaming API.
final class ZstdCompressor: StreamCompressor {
    private let context: OpaquePointer
    private let chunk = OutputChunk()

    init(level: Int) throws {
        guard let context = ZSTD_createCCtx() else { throw compressionFailure("zstd", "cannot create a context") }
        self.context = context
        var status = ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, Int32(level))
        // The frame's content checksum (XXH64) lets the codec report damage itself.
        if ZSTD_isError(status) == 0 { status = ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1) }
        if ZSTD_isError(status) != 0 {
            ZSTD_freeCCtx(context)
            throw compressionFailure("zstd", String(cString: ZSTD_getErrorName(status)))
        }
    }

    func compress(_ input: UnsafeRawBufferPointer, output: ByteOutput) throws {
        guard input.count > 0 else { return }
        var source = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        while source.pos < source.size {
            _ = try run(&source, ZSTD_e_continue, output: output)
        }
    }

    func finish(output: ByteOutput) throws {
        var source = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
        while try run(&source, ZSTD_e_end, output: output) != 0 {}
    }

    /// One call; returns zstd's "bytes left to flush" (0 when an end is complete).
    private func run(_ source: inout ZSTD_inBuffer, _ directive: ZSTD_EndDirective, output: ByteOutput) throws -> Int {
        var destination = ZSTD_outBuffer(dst: chunk.pointer, size: chunk.capacity, pos: 0)
        let remaining = ZSTD_compressStream2(context, &destination, &source, directive)
        if ZSTD_isError(remaining) != 0 {
            throw compressionFailure("zstd", String(cString: ZSTD_getErrorName(remaining)))
        }
        try chunk.emit(destination.pos, to: output)
        return remaining
    }

    deinit { ZSTD_freeCCtx(context) }
}

final class ZstdDecompressor: StreamDecompressor {
    private let context: OpaquePointer

    init() throws {
        guard let context = ZSTD_createDCtx() else { throw decompressionFailure("zstd", "cannot create a context") }
        self.context = context
    }

    func decompress(_ input: UnsafeRawBufferPointer, into output: ByteBuffer) throws -> (consumed: Int, finished: Bool) {
        var source = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        let space = try output.boundedFreeSpace(minimum: decompressorChunkSize)
        var destination = ZSTD_outBuffer(dst: space.baseAddress, size: space.count, pos: 0)
        let hint = ZSTD_decompressStream(context, &destination, &source)
        output.commit(min(destination.pos, space.count))  // before a failure too: what came out is kept
        if ZSTD_isError(hint) != 0 {
            throw decompressionFailure("zstd", String(cString: ZSTD_getErrorName(hint)))
        }
        return (source.pos, hint == 0)
    }

    deinit { ZSTD_freeDCtx(context) }
}
