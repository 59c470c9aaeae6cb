import CLz4

/// LZ4 frame streams (the format of the `lz4` tool and of Python's `lz4.frame`, which joblib uses).
final class Lz4Compressor: StreamCompressor {
    private var context: OpaquePointer?
    private var preferences = LZ4F_preferences_t()
    private var started = false
    /// Input is fed in pieces of this size so that the output bound stays small.
    private static let piece = 1 << 20
    private let output: UnsafeMutableRawPointer
    private let outputCapacity: Int

    init(level: Int) throws {
        guard LZ4F_isError(LZ4F_createCompressionContext(&context, UInt32(LZ4F_VERSION))) == 0, context != nil else {
            throw compressionFailure("lz4", "cannot create a compression context")
        }
        preferences.compressionLevel = Int32(level)
        preferences.frameInfo.blockSizeID = LZ4F_max4MB
        // A checksum of the content, so that damage is reported by the codec rather than
        // surfacing later as a confusing error (XXH32 costs little next to compression).
        preferences.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled
        outputCapacity = max(LZ4F_compressBound(Self.piece, &preferences), LZ4F_HEADER_SIZE_MAX_VALUE) + 64
        output = UnsafeMutableRawPointer.allocate(byteCount: outputCapacity, alignment: 64)
    }

    private func check(_ code: Int) throws -> Int {
        if LZ4F_isError(code) != 0 {
            throw compressionFailure("lz4", String(cString: LZ4F_getErrorName(code)))
        }
        return code
    }

    private func begin(_ sink: ByteOutput) throws {
        guard !started else { return }
        started = true
        let written = try check(LZ4F_compressBegin(context, output, outputCapacity, &preferences))
        try sink(UnsafeRawBufferPointer(start: output, count: written))
    }

    func compress(_ input: UnsafeRawBufferPointer, output sink: ByteOutput) throws {
        try begin(sink)
        var offset = 0
        while offset < input.count {
            let count = min(Self.piece, input.count - offset)
            let written = try check(LZ4F_compressUpdate(context, output, outputCapacity, input.baseAddress! + offset, count, nil))
            if written > 0 { try sink(UnsafeRawBufferPointer(start: output, count: written)) }
            offset += count
        }
    }

    func finish(output sink: ByteOutput) throws {
        try begin(sink)
        let written = try check(LZ4F_compressEnd(context, output, outputCapacity, nil))
        try sink(UnsafeRawBufferPointer(start: output, count: written))
    }

    deinit {
        LZ4F_freeCompressionContext(context)
        output.deallocate()
    }
}

/// The largest frame header, from lz4frame.h (LZ4F_HEADER_SIZE_MAX is a macro Swift cannot import).
private let LZ4F_HEADER_SIZE_MAX_VALUE = 19

final class Lz4Decompressor: StreamDecompressor {
    private var context: OpaquePointer?

    init() throws {
        guard LZ4F_isError(LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))) == 0, context != nil else {
            throw decompressionFailure("lz4", "cannot create a decompression context")
        }
    }

    func decompress(_ input: UnsafeRawBufferPointer, into output: ByteBuffer) throws -> (consumed: Int, finished: Bool) {
        let space = try output.boundedFreeSpace(minimum: decompressorChunkSize)
        var produced = space.count
        var used = input.count
        let hint = LZ4F_decompress(context, space.baseAddress, &produced, input.baseAddress, &used, nil)
        if LZ4F_isError(hint) != 0 {
            throw decompressionFailure("lz4", String(cString: LZ4F_getErrorName(hint)))
        }
        output.commit(produced)  // (on an error, lz4 does not say how much it wrote)
        return (used, hint == 0)
    }

    deinit { LZ4F_freeDecompressionContext(context) }
}
