import JoblibCoding
import JoblibSystem
import SystemPackage

/// The end of the write pipeline: a file descriptor or memory, with a buffer so that the many
/// small writes of a value and a compressor become few system calls.
final class RawSink {
    private let fd: FileDescriptor?
    private let memory: ByteBuffer?
    private let buffer = ByteBuffer()
    private static let bufferCapacity = 1 << 20
    private var pending = 0
    /// Writes at least this large go straight to the descriptor, skipping the buffer copy.
    private static let directWriteSize = 1 << 18

    /// Bytes handed to the descriptor so far (the file is written front to back from offset 0).
    private var written = 0
    /// With early writeback, where the last `startWriteback` ended and up to where the disk has
    /// been waited for.
    private let earlyWriteback: Bool
    private var kicked = 0
    private var waited = 0
    /// Writeback is started every `writebackWindow` bytes and waited for `writebackLag` bytes
    /// behind the write position, which bounds the dirty data in the page cache.
    private static let writebackWindow = 16 << 20
    private static let writebackLag = 64 << 20

    /// - Parameter earlyWriteback: start writing pages to disk while later ones are still being
    ///   written, for files that will reach the disk at once anyway: durable dumps (fsync at the
    ///   end) and files renamed over an existing one (ext4 then flushes the new file during the
    ///   rename: its `auto_da_alloc` guard). The disk then works in parallel with the copying.
    init(fd: FileDescriptor, earlyWriteback: Bool = false) {
        self.fd = fd
        memory = nil
        self.earlyWriteback = earlyWriteback
    }

    init(memory: ByteBuffer) {
        fd = nil
        self.memory = memory
        earlyWriteback = false
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        if let memory {
            try memory.append(bytes)
            return
        }
        if bytes.count >= Self.directWriteSize {
            try flush()
            try writeToFile(bytes)
            return
        }
        if buffer.capacity == 0 { try buffer.reserve(Self.bufferCapacity) }
        if buffer.capacity - buffer.count < bytes.count { try flush() }
        try buffer.append(bytes)
    }

    /// Replaces bytes already written at the start (the header, once the length is known).
    func patch(_ bytes: [UInt8], at offset: Int) throws {
        try flush()
        if let memory {
            precondition(offset + bytes.count <= memory.count, "patching bytes not written yet")
            bytes.withUnsafeBytes { memory.overwrite(at: offset, with: $0) }
        } else if let fd {
            try bytes.withUnsafeBytes { try fd.writeAll($0, at: offset) }
        }
    }

    func flush() throws {
        guard fd != nil, buffer.count > 0 else { return }
        try writeToFile(buffer.bytes)
        buffer.removeAll()
    }

    private func writeToFile(_ bytes: UnsafeRawBufferPointer) throws {
        guard let fd else { return }
        try fd.writeAll(bytes)
        written += bytes.count
        guard earlyWriteback, written - kicked >= Self.writebackWindow else { return }
        fd.startWriteback(offset: kicked, count: written - kicked)
        kicked = written
        if kicked - waited > Self.writebackLag {
            fd.waitForWriteback(offset: waited, count: kicked - Self.writebackLag - waited)
            waited = kicked - Self.writebackLag
        }
    }
}

/// What `NDArray` asks of the container being written, through the encoder's `userInfo`: that
/// its elements become a section whatever their size, so that a `.readWrite` load maps them.
final class SectionRequests: @unchecked Sendable {
    // @unchecked: used by the one thread that runs the encode, between two calls it makes.
    var mappableNext = false
}

/// Writes a container front to back: header, sections as the encoder offers them, the value,
/// the section table, the trailer. Nothing is written twice and nothing seeks, so the same code
/// writes into a file, into memory, or through a streaming compressor.
///
/// The header declares the container's length. Through a compressor it must be known before the
/// first byte: `dump` then encodes the value once with a measuring writer (no sink: sections are
/// counted, not hashed nor written) to learn it. Uncompressed, the header is patched at the end.
final class ContainerWriter: BulkSectionWriter {
    private let sink: RawSink?
    private let compressor: (any StreamCompressor)?
    private let typeName: String
    private let declaredLength: Int?
    private(set) var position = 0
    private(set) var entries: [SectionEntry] = []
    let requests = SectionRequests()
    /// Large sections are hashed and written in pieces of this size, so each piece is still in
    /// cache when the write (or compressor) reads it again.
    private static let piece = 1 << 20

    /// - Parameters:
    ///   - sink: Where the bytes go; nil to measure only (see ``length``).
    ///   - declaredLength: The container's length, required with a compressor (the header goes
    ///     out first); without one, nil has the header patched by ``finish(value:)``.
    init(sink: RawSink?, compression: Compression, typeName: String, declaredLength: Int? = nil) throws {
        self.sink = sink
        self.typeName = typeName
        self.declaredLength = declaredLength
        compressor = sink == nil ? nil : try makeCompressor(compression)
        precondition(compressor == nil || declaredLength != nil, "a compressed container needs its length up front")
        try write(headerBytes(typeName: typeName, containerLength: declaredLength ?? 0))
    }

    /// The encoder `dump` uses: it carries ``requests`` for `NDArray`.
    var encoder: BinaryEncoder {
        var encoder = BinaryEncoder()
        encoder.userInfo[.joblibSectionRequests] = requests
        return encoder
    }

    private func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        if let compressor {
            try compressor.compress(bytes, output: sink!.write)
        } else if let sink {
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
        let mappable = requests.mappableNext
        requests.mappableNext = false
        guard bytes.count >= sectionThreshold || (mappable && bytes.count > 0) else { return nil }
        try padToAlignment()
        let offset = position
        guard sink != nil else {
            position += bytes.count
            entries.append(SectionEntry(offset: offset, byteCount: bytes.count, count: count, elementType: elementType, digest: HashDigest(high: 0, low: 0)))
            return UInt64(entries.count - 1)
        }
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

    /// The container's length once ``finish(value:)`` ran.
    var length: Int { position }

    /// Writes the value, the table and the trailer, and ends the compressed stream.
    func finish(value: [UInt8]) throws {
        let valueOffset = position
        try write(value)
        let tableOffset = position
        var table: [UInt8] = []
        table.reserveCapacity(entries.count * sectionEntrySize)
        for entry in entries { table += entryBytes(entry) }
        try write(table)
        let fileLength = position + trailerSize
        if let declaredLength, declaredLength != fileLength {
            throw PersistenceError(
                .encodingFailed,
                "the value encoded to \(fileLength) bytes after measuring \(declaredLength): its encode(to:) does not write the same thing twice")
        }
        let metadata = XXH3Stream()
        value.withUnsafeBytes { metadata.update($0) }
        table.withUnsafeBytes { metadata.update($0) }
        let trailer = Trailer(
            valueOffset: valueOffset, valueLength: value.count, tableOffset: tableOffset,
            sectionCount: entries.count, fileLength: fileLength, metadataChecksum: metadata.digest().low)
        try write(trailerBytes(trailer))
        guard let sink else { return }
        try compressor?.finish(output: sink.write)
        if declaredLength == nil {
            try sink.patch(headerBytes(typeName: typeName, containerLength: fileLength), at: 0)
        }
        try sink.flush()
    }
}
