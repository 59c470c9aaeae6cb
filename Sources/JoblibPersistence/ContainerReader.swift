import JoblibCoding

/// A container whose structure has been checked: every offset, length and count is in bounds.
struct ContainerLayout {
    var flags: UInt16
    var trailer: Trailer
    var entries: [SectionEntry]
    /// The encoded value.
    var value: UnsafeRawBufferPointer
}

/// Checks a whole container held in memory (a mapped file or a decompressed buffer) and returns
/// its layout. Nothing is trusted: each field is checked before it is used to find another.
func parseContainer(_ bytes: UnsafeRawBufferPointer) throws(PersistenceError) -> ContainerLayout {
    guard bytes.count >= containerMagic.count, bytes.prefix(containerMagic.count).elementsEqual(containerMagic) else {
        throw PersistenceError(.notOurFile, "the data does not start with the swift-joblib container signature")
    }
    guard bytes.count >= preambleSize else {
        throw PersistenceError(.truncated, "the file ends inside its \(preambleSize)-byte preamble (\(bytes.count) bytes)")
    }
    let version = bytes.readLittleEndian(UInt16.self, at: 8)
    guard version != 0 else { throw PersistenceError(.corruptHeader, "the format version field is 0") }
    guard version <= containerFormatVersion else {
        if bytes.count >= preambleSize + trailerSize, bytes.suffix(trailerMagic.count).elementsEqual(trailerMagic) {
            // A trailer that checks out with our own version means the version field itself was damaged.
            let start = bytes.count - trailerSize
            let fields = UnsafeRawBufferPointer(rebasing: bytes[start..<start + 48])
            let flags = bytes.readLittleEndian(UInt16.self, at: 10)
            if trailerChecksum(fields, version: containerFormatVersion, flags: flags) == bytes.readLittleEndian(UInt64.self, at: start + 48) {
                throw PersistenceError(.checksumMismatch, "the format version field is damaged: the file is corrupt")
            }
        }
        throw PersistenceError(
            .newerFormatVersion,
            "the file uses container format version \(version); this library reads versions up to \(containerFormatVersion). Upgrade swift-joblib to load it")
    }
    let flags = bytes.readLittleEndian(UInt16.self, at: 10)
    guard bytes[12..<preambleSize].allSatisfy({ $0 == 0 }) else {
        throw PersistenceError(.corruptHeader, "reserved preamble bytes are not zero")
    }
    guard bytes.count >= preambleSize + trailerSize,
          bytes.suffix(trailerMagic.count).elementsEqual(trailerMagic)
    else {
        throw PersistenceError(.truncated, "the file does not end with a container trailer: it was cut short (or bytes were appended)")
    }
    let trailerStart = bytes.count - trailerSize
    let trailerFields = UnsafeRawBufferPointer(rebasing: bytes[trailerStart..<trailerStart + 48])
    let storedTrailerChecksum = bytes.readLittleEndian(UInt64.self, at: trailerStart + 48)
    guard trailerChecksum(trailerFields, version: version, flags: flags) == storedTrailerChecksum else {
        throw PersistenceError(.checksumMismatch, "the trailer does not match its checksum: the file is corrupt")
    }
    // Checked after the checksum (which covers the flags), so that damage is not taken for a newer writer.
    guard flags & ~ContainerFlags.known == 0 else {
        throw PersistenceError(.newerFormatVersion, "the file uses feature flags 0x\(String(flags, radix: 16)) that this version does not know")
    }
    let trailer = Trailer(
        valueOffset: try bytes.readLength(at: trailerStart, "value offset"),
        valueLength: try bytes.readLength(at: trailerStart + 8, "value length"),
        tableOffset: try bytes.readLength(at: trailerStart + 16, "table offset"),
        sectionCount: try bytes.readLength(at: trailerStart + 24, "section count"),
        fileLength: try bytes.readLength(at: trailerStart + 32, "file length"),
        metadataChecksum: bytes.readLittleEndian(UInt64.self, at: trailerStart + 40))
    guard trailer.fileLength == bytes.count else {
        let code: PersistenceError.Code = trailer.fileLength > bytes.count ? .truncated : .corruptHeader
        throw PersistenceError(code, "the trailer records \(trailer.fileLength) bytes but there are \(bytes.count)")
    }
    // The value follows the sections, the table follows the value, the trailer follows the table.
    guard trailer.valueOffset >= preambleSize, trailer.valueOffset <= trailerStart,
          trailer.valueLength <= trailerStart - trailer.valueOffset,
          trailer.tableOffset == trailer.valueOffset + trailer.valueLength,
          trailer.sectionCount <= (trailerStart - trailer.tableOffset) / sectionEntrySize,
          trailer.tableOffset + trailer.sectionCount * sectionEntrySize == trailerStart
    else {
        throw PersistenceError(
            .corruptHeader,
            "the trailer's offsets are inconsistent (value \(trailer.valueOffset)+\(trailer.valueLength), table \(trailer.tableOffset), \(trailer.sectionCount) sections, file \(bytes.count) bytes)")
    }
    let metadata = UnsafeRawBufferPointer(rebasing: bytes[trailer.valueOffset..<trailerStart])
    let hasher = XXH3Stream()
    hasher.update(metadata)
    guard hasher.digest().low == trailer.metadataChecksum else {
        throw PersistenceError(.checksumMismatch, "the stored value or section table does not match its checksum: the file is corrupt")
    }
    var entries: [SectionEntry] = []
    entries.reserveCapacity(trailer.sectionCount)
    var previousEnd = preambleSize
    for index in 0..<trailer.sectionCount {
        let at = trailer.tableOffset + index * sectionEntrySize
        let offset = try bytes.readLength(at: at, "section offset")
        let byteCount = try bytes.readLength(at: at + 8, "section length")
        let count = try bytes.readLength(at: at + 16, "section element count")
        guard let elementType = BulkElementType(code: bytes[at + 24]),
              bytes[(at + 25)..<(at + 32)].allSatisfy({ $0 == 0 })
        else {
            throw PersistenceError(.corruptHeader, "section \(index) has an unknown element type \(bytes[at + 24])")
        }
        let (expected, overflow) = count.multipliedReportingOverflow(by: elementType.byteWidth)
        guard !overflow, expected == byteCount, offset % sectionAlignment == 0, offset >= previousEnd,
              offset <= trailer.valueOffset, byteCount <= trailer.valueOffset - offset
        else {
            throw PersistenceError(
                .corruptHeader, "section \(index) (offset \(offset), \(byteCount) bytes, \(count) × \(elementType)) lies outside its place in the file")
        }
        try checkPadding(bytes, from: previousEnd, to: offset)
        let digest = HashDigest(
            high: bytes.readLittleEndian(UInt64.self, at: at + 32), low: bytes.readLittleEndian(UInt64.self, at: at + 40))
        entries.append(SectionEntry(offset: offset, byteCount: byteCount, count: count, elementType: elementType, digest: digest))
        previousEnd = offset + byteCount
    }
    try checkPadding(bytes, from: previousEnd, to: trailer.valueOffset)
    let value = UnsafeRawBufferPointer(rebasing: bytes[trailer.valueOffset..<trailer.tableOffset])
    return ContainerLayout(flags: flags, trailer: trailer, entries: entries, value: value)
}

/// Checks that the bytes between two sections are alignment padding: fewer than 64, all zero.
/// (No byte of a container goes unchecked, so every flipped bit is noticed.)
private func checkPadding(_ bytes: UnsafeRawBufferPointer, from start: Int, to end: Int) throws(PersistenceError) {
    guard end - start < sectionAlignment, bytes[start..<end].allSatisfy({ $0 == 0 }) else {
        throw PersistenceError(.corruptHeader, "the \(end - start) bytes at offset \(start) are not section padding")
    }
}

/// Hands the decoder the bytes of array sections, checking each one's checksum on first use.
final class SectionReader: BulkSectionReader {
    private let bytes: UnsafeRawBufferPointer
    private let entries: [SectionEntry]
    private let owner: AnyObject?
    private var verified: [Bool]
    private let verify: Bool
    /// Digests already computed while the file was read, by section offset (with the length hashed).
    private let knownDigests: [Int: (byteCount: Int, digest: HashDigest)]

    /// - Parameters:
    ///   - owner: what keeps `bytes` alive after the load (a mapping or buffer) when arrays may
    ///     keep their elements in place; nil makes every array copy its elements.
    ///   - verify: whether to check section checksums (mapped loads skip it: that reads every page).
    ///   - knownDigests: digests of byte ranges of `bytes` computed while reading them, used instead
    ///     of hashing a section again when its offset and length match.
    init(
        bytes: UnsafeRawBufferPointer, entries: [SectionEntry], owner: AnyObject?, verify: Bool,
        knownDigests: [Int: (byteCount: Int, digest: HashDigest)] = [:]
    ) {
        self.bytes = bytes
        self.entries = entries
        self.owner = owner
        self.verify = verify
        self.knownDigests = knownDigests
        verified = Array(repeating: false, count: entries.count)
    }

    func section(_ number: UInt64, elementType: BulkElementType, count: Int) throws -> BulkSection {
        guard number < UInt64(entries.count) else {
            throw PersistenceError(.corruptHeader, "the value refers to section \(number) but the file has \(entries.count)")
        }
        let index = Int(number)
        let entry = entries[index]
        guard entry.elementType == elementType, entry.count == count else {
            throw PersistenceError(
                .corruptHeader,
                "section \(index) holds \(entry.count) × \(entry.elementType) but the value expects \(count) × \(elementType)")
        }
        let section = UnsafeRawBufferPointer(rebasing: bytes[entry.offset..<entry.offset + entry.byteCount])
        if verify && !verified[index] {
            let known = knownDigests[entry.offset]
            let digest = known.map { $0.byteCount == entry.byteCount } == true ? known!.digest : xxh3Digest(section)
            guard digest == entry.digest else {
                throw PersistenceError(.checksumMismatch, "array section \(index) (\(entry.count) × \(entry.elementType)) does not match its checksum: the file is corrupt")
            }
            verified[index] = true
        }
        return BulkSection(bytes: section, owner: owner)
    }
}

/// Decodes the value of a checked container.
func decodeContainer<T: Decodable>(
    _ type: T.Type, from bytes: UnsafeRawBufferPointer, owner: AnyObject?, verifySections: Bool,
    knownDigests: [Int: (byteCount: Int, digest: HashDigest)] = [:]
) throws -> T {
    let layout = try parseContainer(bytes)
    let stale = layout.flags & ContainerFlags.checksumsStale != 0
    let reader = SectionReader(
        bytes: bytes, entries: layout.entries, owner: owner, verify: verifySections && !stale, knownDigests: knownDigests)
    return try BinaryDecoder().decode(type, from: layout.value, sections: reader)
}
