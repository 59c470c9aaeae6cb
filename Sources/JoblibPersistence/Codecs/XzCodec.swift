import CLzma

/// liblzma's two stream formats: xz, and the legacy `.lzma` format ("LZMA alone"), which Python's
/// joblib writes for `.lzma` names and its `lzma` module reads with `FORMAT_ALONE` (one LZMA1
/// stream with a 13-byte header, no check). The decoder reads both.
final class LzmaCompressor: StreamCompressor {
    enum Format {
        case xz, alone
        var name: String { self == .xz ? "xz" : "lzma" }
    }

    private let stream = UnsafeMutablePointer<lzma_stream>.allocate(capacity: 1)
    private let chunk = OutputChunk()
    private let name: String

    init(_ format: Format, level: Int) throws {
        name = format.name
        stream.initialize(to: lzma_stream())
        let status: lzma_ret
        switch format {
        case .xz:
            status = lzma_easy_encoder(stream, UInt32(level), LZMA_CHECK_CRC64)
        case .alone:
            var options = lzma_options_lzma()
            guard lzma_lzma_preset(&options, UInt32(level)) == 0 else {
                stream.deallocate()
                throw compressionFailure(name, "no preset \(level)")
            }
            status = lzma_alone_encoder(stream, &options)
        }
        guard status == LZMA_OK else {
            stream.deallocate()
            throw compressionFailure(name, "\(format == .xz ? "lzma_easy_encoder" : "lzma_alone_encoder") returned \(status.rawValue)")
        }
    }

    func compress(_ input: UnsafeRawBufferPointer, output: ByteOutput) throws {
        guard input.count > 0 else { return }
        stream.pointee.next_in = input.baseAddress!.assumingMemoryBound(to: UInt8.self)
        stream.pointee.avail_in = input.count
        while stream.pointee.avail_in > 0 { try run(LZMA_RUN, output: output) }
    }

    func finish(output: ByteOutput) throws {
        while try run(LZMA_FINISH, output: output) != LZMA_STREAM_END {}
    }

    @discardableResult
    private func run(_ action: lzma_action, output: ByteOutput) throws -> lzma_ret {
        stream.pointee.next_out = chunk.pointer.assumingMemoryBound(to: UInt8.self)
        stream.pointee.avail_out = chunk.capacity
        let status = lzma_code(stream, action)
        guard status == LZMA_OK || status == LZMA_STREAM_END else {
            throw compressionFailure(name, "lzma_code returned \(status.rawValue)")
        }
        try chunk.emit(chunk.capacity - stream.pointee.avail_out, to: output)
        return status
    }

    deinit {
        lzma_end(stream)
        stream.deallocate()
    }
}

final class XzDecompressor: StreamDecompressor {
    private let stream = UnsafeMutablePointer<lzma_stream>.allocate(capacity: 1)
    /// The most memory a hostile header may make the decoder allocate (xz -9 needs 65 MiB).
    private static let memoryLimit: UInt64 = 512 << 20

    init() throws {
        stream.initialize(to: lzma_stream())
        let status = lzma_auto_decoder(stream, Self.memoryLimit, 0)
        guard status == LZMA_OK else {
            stream.deallocate()
            throw decompressionFailure("xz", "lzma_auto_decoder returned \(status.rawValue)")
        }
    }

    func decompress(_ input: UnsafeRawBufferPointer, into output: ByteBuffer) throws -> (consumed: Int, finished: Bool) {
        stream.pointee.next_in = input.baseAddress?.assumingMemoryBound(to: UInt8.self)
        stream.pointee.avail_in = input.count
        let space = try output.boundedFreeSpace(minimum: decompressorChunkSize)
        stream.pointee.next_out = space.baseAddress!.assumingMemoryBound(to: UInt8.self)
        stream.pointee.avail_out = space.count
        let status = lzma_code(stream, LZMA_RUN)
        output.commit(space.count - stream.pointee.avail_out)
        let consumed = input.count - stream.pointee.avail_in
        if status == LZMA_STREAM_END { return (consumed, true) }
        guard status == LZMA_OK || status == LZMA_BUF_ERROR else {
            let reason = status == LZMA_MEMLIMIT_ERROR ? "it needs more than 512 MiB of memory to decode" : "lzma_code returned \(status.rawValue)"
            throw decompressionFailure("xz", reason)
        }
        return (consumed, false)
    }

    deinit {
        lzma_end(stream)
        stream.deallocate()
    }
}
