import CBzip2

/// bzip2 streams through libbz2's bz_stream API.
final class Bzip2Compressor: StreamCompressor {
    // libbz2 checks that the stream keeps its address, so it lives on the heap.
    private let stream = UnsafeMutablePointer<bz_stream>.allocate(capacity: 1)
    private let chunk = OutputChunk()

    init(level: Int) throws {
        stream.initialize(to: bz_stream())
        let status = BZ2_bzCompressInit(stream, Int32(level), 0, 0)
        guard status == BZ_OK else {
            stream.deallocate()
            throw compressionFailure("bzip2", "BZ2_bzCompressInit returned \(status)")
        }
    }

    func compress(_ input: UnsafeRawBufferPointer, output: ByteOutput) throws {
        var offset = 0
        while offset < input.count {
            let piece = min(input.count - offset, Int(UInt32.max / 2))
            stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress!.advanced(by: offset).assumingMemoryBound(to: CChar.self))
            stream.pointee.avail_in = UInt32(piece)
            while stream.pointee.avail_in > 0 { try run(BZ_RUN, output: output) }
            offset += piece
        }
    }

    func finish(output: ByteOutput) throws {
        while try run(BZ_FINISH, output: output) != BZ_STREAM_END {}
    }

    @discardableResult
    private func run(_ action: Int32, output: ByteOutput) throws -> Int32 {
        stream.pointee.next_out = chunk.pointer.assumingMemoryBound(to: CChar.self)
        stream.pointee.avail_out = UInt32(chunk.capacity)
        let status = BZ2_bzCompress(stream, action)
        guard status >= 0 else { throw compressionFailure("bzip2", "BZ2_bzCompress returned \(status)") }
        try chunk.emit(chunk.capacity - Int(stream.pointee.avail_out), to: output)
        return status
    }

    deinit {
        BZ2_bzCompressEnd(stream)
        stream.deallocate()
    }
}

final class Bzip2Decompressor: StreamDecompressor {
    private let stream = UnsafeMutablePointer<bz_stream>.allocate(capacity: 1)

    init() throws {
        stream.initialize(to: bz_stream())
        let status = BZ2_bzDecompressInit(stream, 0, 0)
        guard status == BZ_OK else {
            stream.deallocate()
            throw decompressionFailure("bzip2", "BZ2_bzDecompressInit returned \(status)")
        }
    }

    func decompress(_ input: UnsafeRawBufferPointer, into output: ByteBuffer) throws -> (consumed: Int, finished: Bool) {
        let piece = min(input.count, Int(UInt32.max / 2))
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: CChar.self))
        stream.pointee.avail_in = UInt32(piece)
        let space = try output.boundedFreeSpace(minimum: decompressorChunkSize)
        let room = min(space.count, Int(UInt32.max / 2))
        stream.pointee.next_out = space.baseAddress!.assumingMemoryBound(to: CChar.self)
        stream.pointee.avail_out = UInt32(room)
        let status = BZ2_bzDecompress(stream)
        output.commit(room - Int(stream.pointee.avail_out))
        let consumed = piece - Int(stream.pointee.avail_in)
        if status == BZ_STREAM_END { return (consumed, true) }
        guard status == BZ_OK else { throw decompressionFailure("bzip2", "BZ2_bzDecompress returned \(status)") }
        return (consumed, false)
    }

    deinit {
        BZ2_bzDecompressEnd(stream)
        stream.deallocate()
    }
}
