import CZlib

/// zlib and gzip streams (deflate), through zlib's z_stream API.
final class ZlibCompressor: StreamCompressor {
    // zlib checks that the stream keeps the address it was initialised at, so it lives on the heap.
    private let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    private let chunk = OutputChunk()

    init(level: Int, gzip: Bool) throws {
        stream.initialize(to: z_stream())
        let status = deflateInit2_(
            stream, Int32(level), Z_DEFLATED, gzip ? 15 + 16 : 15, 8, Z_DEFAULT_STRATEGY,
            zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else {
            stream.deallocate()
            throw compressionFailure("zlib", "deflateInit2 returned \(status)")
        }
    }

    func compress(_ input: UnsafeRawBufferPointer, output: ByteOutput) throws {
        var offset = 0
        while offset < input.count {
            let piece = min(input.count - offset, Int(UInt32.max / 2))
            stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress!.advanced(by: offset).assumingMemoryBound(to: Bytef.self))
            stream.pointee.avail_in = UInt32(piece)
            repeat {
                try run(Z_NO_FLUSH, output: output)
            } while stream.pointee.avail_in > 0
            offset += piece
        }
    }

    func finish(output: ByteOutput) throws {
        stream.pointee.next_in = nil
        stream.pointee.avail_in = 0
        while try run(Z_FINISH, output: output) != Z_STREAM_END {}
    }

    @discardableResult
    private func run(_ flush: Int32, output: ByteOutput) throws -> Int32 {
        stream.pointee.next_out = chunk.pointer.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = UInt32(chunk.capacity)
        let status = deflate(stream, flush)
        guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
            throw compressionFailure("zlib", "deflate returned \(status)")
        }
        try chunk.emit(chunk.capacity - Int(stream.pointee.avail_out), to: output)
        return status
    }

    deinit {
        deflateEnd(stream)
        stream.deallocate()
    }
}

/// Reads zlib and gzip streams (zlib detects which from the header).
final class ZlibDecompressor: StreamDecompressor {
    private let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)

    init() throws {
        stream.initialize(to: z_stream())
        // 15 + 32: a window of up to 32 KiB, zlib or gzip header detected automatically.
        let status = inflateInit2_(stream, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else {
            stream.deallocate()
            throw decompressionFailure("zlib", "inflateInit2 returned \(status)")
        }
    }

    func decompress(_ input: UnsafeRawBufferPointer, into output: ByteBuffer) throws -> (consumed: Int, finished: Bool) {
        let piece = min(input.count, Int(UInt32.max / 2))
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = UInt32(piece)
        let space = try output.boundedFreeSpace(minimum: decompressorChunkSize)
        let room = min(space.count, Int(UInt32.max / 2))
        stream.pointee.next_out = space.baseAddress!.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = UInt32(room)
        let status = inflate(stream, Z_NO_FLUSH)
        output.commit(room - Int(stream.pointee.avail_out))
        let consumed = piece - Int(stream.pointee.avail_in)
        switch status {
        case Z_STREAM_END: return (consumed, true)
        case Z_OK, Z_BUF_ERROR: return (consumed, false)
        default:
            let detail = stream.pointee.msg.map { String(cString: $0) } ?? "inflate returned \(status)"
            throw decompressionFailure("zlib", detail)
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
    }
}
