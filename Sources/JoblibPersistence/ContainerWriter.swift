import JoblibCoding
import JoblibSystem
import SystemPackage

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

    func storeSection(_ bytes: UnsafeRawBufferPointer, elementType: BulkElementType, count: Int, owner: any Sendable) throws -> UInt64? {
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
