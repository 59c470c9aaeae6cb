import JoblibCoding

/// A container whose structure has been checked: every offset, length and count is in bounds.
struct ContainerLayout {
    var header: ContainerHeader
    var flags: UInt16 { header.flags }
    var trailer: Trailer
    var entries: [SectionEntry]
    /// The encoded value.
    var value: UnsafeRawBufferPointer
}

/// Reads the header at the start of `bytes`: signature, version, and for version 2 the declared
/// length and type name under their checksum. With `complete` false, `bytes` is what a
/// decompressor produced so far: nil means "not enough bytes yet", and a version newer than ours
/// is left for ``parseContainer(_:)`` to judge with the trailer (so that damage is not taken for
/// a newer writer). Reserved bytes must be zero.
func parseHeader(_ bytes: UnsafeRawBufferPointer, complete: Bool) throws(PersistenceError) -> ContainerHeader? {
    guard bytes.count >= containerMagic.count || complete else { return nil }
    guard bytes.count >= containerMagic.count, bytes.readLittleEndian(UInt64.self, at: 0) == containerMagicWord else {
        throw PersistenceError(.notOurFile, "the data does not start with the swift-joblib container signature")
    }
    guard bytes.count >= preambleSize else {
        guard complete else { return nil }
        throw PersistenceError(.truncated, "the file ends inside its \(preambleSize)-byte preamble (\(bytes.count) bytes)")
    }
    let version = bytes.readLittleEndian(UInt16.self, at: 8)
    let flags = bytes.readLittleEndian(UInt16.self, at: 10)
    guard version != 0 else { throw PersistenceError(.corruptHeader, "the format version field is 0") }
    if version == 1 {
        guard bytes[12..<preambleSize].allSatisfy({ $0 == 0 }) else {
            throw PersistenceError(.corruptHeader, "reserved preamble bytes are not zero")
        }
        return ContainerHeader(version: 1, flags: flags, declaredLength: nil, typeNameRange: nil, end: preambleSize)
    }
    guard version == 2 else {
        // Newer than us, or a damaged version field: parseContainer tells which.
        return ContainerHeader(version: version, flags: flags, declaredLength: nil, typeNameRange: nil, end: preambleSize)
    }
    let nameLength = Int(bytes.readLittleEndian(UInt16.self, at: 12))
    guard bytes.count >= preambleSize + nameLength else {
        guard complete else { return nil }
        throw PersistenceError(.truncated, "the file ends inside its header (\(bytes.count) bytes)")
    }
    let name = UnsafeRawBufferPointer(rebasing: bytes[preambleSize..<preambleSize + nameLength])
    guard headerChecksum(UnsafeRawBufferPointer(rebasing: bytes[0..<56]), name: name) == bytes.readLittleEndian(UInt64.self, at: 56) else {
        throw PersistenceError(.checksumMismatch, "the container header does not match its checksum: the file is corrupt")
    }
    // Bytes 14..<16 and 24..<56 are reserved: read as words, not byte by byte.
    let reserved = UInt64(bytes.readLittleEndian(UInt16.self, at: 14)) | bytes.readLittleEndian(UInt64.self, at: 24)
        | bytes.readLittleEndian(UInt64.self, at: 32) | bytes.readLittleEndian(UInt64.self, at: 40)
        | bytes.readLittleEndian(UInt64.self, at: 48)
    guard nameLength <= maximumTypeNameLength, reserved == 0 else {
        throw PersistenceError(.corruptHeader, "reserved header bytes are not zero")
    }
    let declared = bytes.readLittleEndian(UInt64.self, at: 16)
    guard declared >= UInt64(preambleSize + nameLength + trailerSize), declared <= UInt64(Int.max) else {
        throw PersistenceError(.corruptHeader, "the header declares an impossible container length \(declared)")
    }
    return ContainerHeader(
        version: 2, flags: flags, declaredLength: Int(declared), typeNameRange: preambleSize..<preambleSize + nameLength,
        end: preambleSize + nameLength)
}

/// Checks a whole container held in memory (a mapped file or a decompressed buffer) and returns
/// its layout. Nothing is trusted: each field is checked before it is used to find another.
func parseContainer(_ bytes: UnsafeRawBufferPointer) throws(PersistenceError) -> ContainerLayout {
    guard let header = try parseHeader(bytes, complete: true) else { preconditionFailure("a complete parse returns a header or throws") }
    let version = header.version
    guard version <= containerFormatVersion else {
        if bytes.count >= preambleSize + trailerSize, endsWithTrailerMagic(bytes) {
            // A trailer that checks out with a version we know means the version field itself was damaged.
            let start = bytes.count - trailerSize
            let fields = UnsafeRawBufferPointer(rebasing: bytes[start..<start + 48])
            let stored = bytes.readLittleEndian(UInt64.self, at: start + 48)
            for known in 1...containerFormatVersion where trailerChecksum(fields, version: known, flags: header.flags) == stored {
                throw PersistenceError(.checksumMismatch, "the format version field is damaged: the file is corrupt")
            }
        }
        throw PersistenceError(
            .newerFormatVersion,
            "the file uses container format version \(version); this library reads versions up to \(containerFormatVersion). Upgrade swift-joblib to load it")
    }
    let flags = header.flags
    guard bytes.count >= header.end + trailerSize, endsWithTrailerMagic(bytes) else {
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
    let trailer = try Trailer(fieldsIn: bytes, at: trailerStart)
    guard trailer.fileLength == bytes.count else {
        let code: PersistenceError.Code = trailer.fileLength > bytes.count ? .truncated : .corruptHeader
        throw PersistenceError(code, "the trailer records \(trailer.fileLength) bytes but there are \(bytes.count)")
    }
    if let declared = header.declaredLength, declared != bytes.count {
        throw PersistenceError(.corruptHeader, "the header declares \(declared) bytes but the container has \(bytes.count)")
    }
    // The value follows the sections, the table follows the value, the trailer follows the table.
    guard trailer.valueOffset >= header.end, trailer.valueOffset <= trailerStart,
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
    // One call, the same digest as streamed: no hash state allocated per load (a cache hit).
    guard xxh3Digest(metadata).low == trailer.metadataChecksum else {
        throw PersistenceError(.checksumMismatch, "the stored value or section table does not match its checksum: the file is corrupt")
    }
    var entries: [SectionEntry] = []
    entries.reserveCapacity(trailer.sectionCount)
    var previousEnd = header.end
    for index in 0..<trailer.sectionCount {
        let at = trailer.tableOffset + index * sectionEntrySize
        let (offset, byteCount) = try sectionSpan(in: bytes, tableOffset: trailer.tableOffset, index: index)
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
    return ContainerLayout(header: header, trailer: trailer, entries: entries, value: value)
}

/// Whether the last eight bytes are the trailer's signature (the caller has checked there are eight).
private func endsWithTrailerMagic(_ bytes: UnsafeRawBufferPointer) -> Bool {
    bytes.readLittleEndian(UInt64.self, at: bytes.count - trailerMagic.count) == trailerMagicWord
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

/// The section reader of a container that has none: a value that refers to a section is corrupt,
/// with the message ``SectionReader`` gives for a section number past the end of its table.
final class NoSections: BulkSectionReader, Sendable {
    static let shared = NoSections()

    func section(_ number: UInt64, elementType: BulkElementType, count: Int) throws -> BulkSection {
        throw PersistenceError(.corruptHeader, "the value refers to section \(number) but the file has 0")
    }
}

/// Keys of `userInfo` through which the container and `NDArray` talk during a dump or load.
extension CodingUserInfoKey {
    /// During a dump: the `SectionRequests` of the container being written.
    static let joblibSectionRequests = CodingUserInfoKey(rawValue: "joblib.sectionRequests")!
    /// During a load: the `MappingMode` the sections are mapped with, when they are.
    static let joblibMapping = CodingUserInfoKey(rawValue: "joblib.mapping")!
}

/// Decodes the value of a checked container. A value of another type than the one stored is
/// `typeMismatch`, naming the stored type when the header records it (format version 2).
func decodeContainer<T: Decodable>(
    _ type: T.Type, from bytes: UnsafeRawBufferPointer, owner: AnyObject?, verifySections: Bool,
    knownDigests: [Int: (byteCount: Int, digest: HashDigest)]? = nil, mapping: MappingMode? = nil
) throws -> T {
    let layout = try parseContainer(bytes)
    let stale = layout.flags & ContainerFlags.checksumsStale != 0
    // A container without sections (a small value: every cache hit of one) needs no reader of
    // its own; the shared one answers any reference to a section as the file's reader would.
    let reader: any BulkSectionReader = layout.entries.isEmpty
        ? NoSections.shared
        : SectionReader(
            bytes: bytes, entries: layout.entries, owner: owner, verify: verifySections && !stale, knownDigests: knownDigests ?? [:])
    var decoder = BinaryDecoder()
    if let mapping { decoder.userInfo[.joblibMapping] = mapping }
    do {
        return try decoder.decode(type, from: layout.value, sections: reader)
    } catch let error as CodingError where error.code == .typeMismatch || error.code == .keyNotFound {
        throw PersistenceError(.typeMismatch, typeMismatchMessage(stored: layout.header.typeName(in: bytes), requested: T.self, error.message, at: error.path), underlying: error)
    } catch let error as DecodingError {
        switch error {
        case .dataCorrupted(let context):
            throw PersistenceError(.corruptHeader, "the stored value is inconsistent: \(context.debugDescription)")
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .keyNotFound(_, let context):
            let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            throw PersistenceError(.typeMismatch, typeMismatchMessage(stored: layout.header.typeName(in: bytes), requested: T.self, context.debugDescription, at: path))
        @unknown default:
            throw PersistenceError(.typeMismatch, typeMismatchMessage(stored: layout.header.typeName(in: bytes), requested: T.self, "\(error)", at: ""))
        }
    }
}

/// `the file holds a Model, not a [Double]: expected …` (the stored type's name when known).
func typeMismatchMessage(stored: String?, requested: Any.Type?, _ detail: String, at path: String) -> String {
    let place = path.isEmpty ? "" : " (at \(path))"
    guard let requested else { return "the file holds another type than the one asked for: \(detail)\(place)" }
    let wanted = String(reflecting: requested)
    guard let stored else { return "the file holds another type than \(wanted): \(detail)\(place)" }
    if stored == wanted {
        return "the file holds a \(stored), but it does not decode as this version of that type: \(detail)\(place)"
    }
    return "the file holds a \(stored), not a \(wanted): \(detail)\(place)"
}
