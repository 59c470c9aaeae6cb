import JoblibCoding
import JoblibSystem
import SystemPackage

/// The end of the write pipeline: a file descriptor or memory, with a buffer so that the many
/// small writes of a value and a compressor become few system calls.
final class RawSink {
    private let fd: FileDescriptor?
    private let memory: ByteBuffer?
    private let buffer = ByteBuffer(capacity: 1 << 20)
    private var pending = 0
    /// Writes at least this large go straight to the descriptor, skipping the buffer copy.
    private static let directWriteSize = 1 << 18

    init(fd: FileDescriptor) {
        self.fd = fd
        memory = nil
    }

    init(memory: ByteBuffer) {
        fd = nil
        self.memory = memory
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        if let memory {
            memory.append(bytes)
            return
        }
        if bytes.count >= Self.directWriteSize {
            try flush()
            try fd!.writeAll(bytes)
            return
        }
        if buffer.capacity - buffer.count < bytes.count { try flush() }
        buffer.append(bytes)
    }

    func flush() throws {
        guard let fd, buffer.count > 0 else { return }
        try fd.writeAll(buffer.bytes)
        buffer.removeAll()
    }
}

/// Writes a container front to back: preamble, sections as the encoder offers them, the value,
/// the section table, the trailer. Nothing is written twice and nothing seeks, so the same code
/// writes into a file, into memory, or through a streaming compressor.
final class ContainerWriter: BulkSectionWriter {
    private let sink: RawSink
    private let compressor: (any StreamCompressor)?
    private(set) var position = 0
    private(set) var entries: [SectionEntry] = []
    /// Large sections are hashed and written in pieces of this size, so each piece is still in
    /// cache when the write (or compressor) reads it again.
    private static let piece = 1 << 20

    init(sink: RawSink, compression: Compression) throws {
        self.sink = sink
        compressor = try makeCompressor(compression)
        try write(preambleBytes())
    }

    private func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        if let compressor {
            try compressor.compress(bytes, output: sink.write)
        } else {
            try sink.write(bytes)
        }
        position += bytes.count
    }

    private func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    private func padToAlignment() throws {
        let padding = (sectionAlignment - position % sectionAlignment) % sectionAlignment
        if padding > 0 { try write([UInt8](repeating: 0, count: padding)) }
    }

    func storeSection(_ bytes: UnsafeRawBufferPointer, elementType: BulkElementType, count: Int) throws -> UInt64? {
        guard bytes.count >= sectionThreshold else { return nil }
        try padToAlignment()
        let offset = position
        let hasher = XXH3Stream()
        var done = 0
        while done < bytes.count {
            let piece = UnsafeRawBufferPointer(rebasing: bytes[done..<min(done + Self.piece, bytes.count)])
            hasher.update(piece)
            try write(piece)
            done += piece.count
        }
        entries.append(SectionEntry(offset: offset, byteCount: bytes.count, count: count, elementType: elementType, digest: hasher.digest()))
        return UInt64(entries.count - 1)
    }

    /// Writes the value, the table and the trailer, and ends the compressed stream.
    func finish(value: [UInt8]) throws {
        let valueOffset = position
        try write(value)
        let tableOffset = position
        var table: [UInt8] = []
        table.reserveCapacity(entries.count * sectionEntrySize)
        for entry in entries { table += entryBytes(entry) }
        try write(table)
        let metadata = XXH3Stream()
        value.withUnsafeBytes { metadata.update($0) }
        table.withUnsafeBytes { metadata.update($0) }
        let trailer = Trailer(
            valueOffset: valueOffset, valueLength: value.count, tableOffset: tableOffset,
            sectionCount: entries.count, fileLength: position + trailerSize, metadataChecksum: metadata.digest().low)
        try write(trailerBytes(trailer))
        try compressor?.finish(output: sink.write)
        try sink.flush()
    }
}
