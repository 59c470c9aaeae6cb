import JoblibCoding
import JoblibSystem

// The byte layout of a container, described for people in FileFormat.md next to this file.
// Change both together, and bump `containerFormatVersion` when old readers would misread a file.

/// The first eight bytes of every container: a non-ASCII byte, "JOB", then CR LF SUB LF so that
/// text-mode transfers that mangle line endings are detected (the PNG trick).
let containerMagic: [UInt8] = [0x89, 0x4A, 0x4F, 0x42, 0x0D, 0x0A, 0x1A, 0x0A]
/// The last eight bytes of every container.
let trailerMagic: [UInt8] = [0x4A, 0x4F, 0x42, 0x45, 0x4E, 0x44, 0x0D, 0x0A] // "JOBEND\r\n"
/// The two signatures read as little-endian words: every load compares them with one load each
/// rather than byte by byte through a generic sequence (a test pins them to the byte arrays).
let containerMagicWord: UInt64 = 0x0A1A_0A0D_424F_4A89
let trailerMagicWord: UInt64 = 0x0A0D_444E_4542_4F4A
/// The version this library writes, and the newest it reads.
let containerFormatVersion: UInt16 = 2
/// Preamble and trailer are 64 bytes each; sections start at multiples of `sectionAlignment`.
let preambleSize = 64
let trailerSize = 64
let sectionAlignment = 64
let sectionEntrySize = 48
/// Arrays at least this large (in bytes) are stored as sections; smaller ones stay inline
/// (except the elements of an `NDArray`, always a section from version 2 on: see `SectionRequests`).
/// 512 bytes, chosen rather than measured: a section costs up to 63 bytes of padding and a
/// 48-byte entry, at most about a fifth of an array this size. Part of the format (FileFormat.md
/// "Sections"): changing it changes the bytes of dumped files and the pinned golden digests.
let sectionThreshold = 512
/// The longest type name a version-2 header holds (longer names are cut at a character boundary).
let maximumTypeNameLength = 1024

/// Preamble flag bits.
enum ContainerFlags {
    /// Section contents were changed in place through a `.readWrite` mapping, so their stored
    /// checksums no longer describe them and loads skip that check.
    static let checksumsStale: UInt16 = 1 << 0
    static let known: UInt16 = checksumsStale
}

/// One array section: where it is, what it holds and its XXH3-128 checksum.
struct SectionEntry: Equatable {
    var offset: Int
    var byteCount: Int
    var count: Int
    var elementType: BulkElementType
    var digest: HashDigest
}

/// The fixed-size record at the end of a container, pointing to the value and the section table.
struct Trailer: Equatable {
    var valueOffset: Int
    var valueLength: Int
    var tableOffset: Int
    var sectionCount: Int
    var fileLength: Int
    /// The low 64 bits of XXH3-128 over the value bytes followed by the section table.
    var metadataChecksum: UInt64
}

// MARK: Reading

extension Trailer {
    /// The trailer's fields as stored at `start` (where the last `trailerSize` bytes begin): the
    /// one reader of the trailer's layout. Each offset and length must fit in `Int`; nothing else
    /// is checked here (``parseContainer(_:)`` checks them against each other and the file).
    init(fieldsIn bytes: UnsafeRawBufferPointer, at start: Int) throws(PersistenceError) {
        valueOffset = try bytes.readLength(at: start, "value offset")
        valueLength = try bytes.readLength(at: start + 8, "value length")
        tableOffset = try bytes.readLength(at: start + 16, "table offset")
        sectionCount = try bytes.readLength(at: start + 24, "section count")
        fileLength = try bytes.readLength(at: start + 32, "file length")
        metadataChecksum = bytes.readLittleEndian(UInt64.self, at: start + 40)
    }
}

/// Where the section that table entry `index` describes lies: the one reader of an entry's
/// offset and length (unchecked but for fitting in `Int`).
func sectionSpan(in bytes: UnsafeRawBufferPointer, tableOffset: Int, index: Int) throws(PersistenceError) -> (offset: Int, byteCount: Int) {
    let at = tableOffset + index * sectionEntrySize
    return (try bytes.readLength(at: at, "section offset"), try bytes.readLength(at: at + 8, "section length"))
}

/// What the start of a container says: the preamble, and for version 2 the type name after it.
struct ContainerHeader: Equatable {
    var version: UInt16
    var flags: UInt16
    /// The container's whole length as the header declares it (version 2); nil for version 1,
    /// whose header declares none.
    var declaredLength: Int?
    /// Where `String(reflecting:)` of the type that was dumped is (version 2; nil for version 1):
    /// read with ``typeName(in:)`` only when needed (a message, `joblib inspect`), not on every load.
    var typeNameRange: Range<Int>?
    /// Where the header ends and the first section may start.
    var end: Int

    /// The stored type name, from the container's bytes.
    func typeName(in bytes: UnsafeRawBufferPointer) -> String? {
        typeNameRange.map { String(decoding: UnsafeRawBufferPointer(rebasing: bytes[$0]), as: UTF8.self) }
    }
}

// MARK: Writing

/// The version-2 header: preamble, then the type name's UTF-8 bytes.
///
/// ```
/// 0  magic            8 bytes
/// 8  version          u16
/// 10 flags            u16
/// 12 type name length u16 (at most 1024)
/// 14 zero             2 bytes
/// 16 container length u64
/// 24 zero             32 bytes
/// 56 header checksum  u64: XXH3-64 over bytes 0..<56 followed by the type name
/// 64 type name
/// ```
func headerBytes(flags: UInt16 = 0, typeName: String, containerLength: Int) -> [UInt8] {
    let name = Array(truncatedTypeName(typeName).utf8)
    var bytes = containerMagic
    bytes.appendLittleEndian(containerFormatVersion)
    bytes.appendLittleEndian(flags)
    bytes.appendLittleEndian(UInt16(name.count))
    bytes += [0, 0]
    bytes.appendLittleEndian(UInt64(containerLength))
    bytes += [UInt8](repeating: 0, count: 56 - bytes.count)
    let checksum = bytes.withUnsafeBytes { preamble in name.withUnsafeBytes { headerChecksum(preamble, name: $0) } }
    bytes.appendLittleEndian(checksum)
    return bytes + name
}

/// XXH3-64 over the first 56 preamble bytes and the type name (copied together on the stack:
/// every load checks it, so it allocates nothing, and copies whole blocks, not byte by byte).
func headerChecksum(_ first56: UnsafeRawBufferPointer, name: UnsafeRawBufferPointer) -> UInt64 {
    precondition(first56.count == 56, "the checksummed preamble is 56 bytes")
    return withUnsafeTemporaryAllocation(byteCount: 56 + name.count, alignment: 8) { buffer in
        buffer.copyMemory(from: first56)
        UnsafeMutableRawBufferPointer(rebasing: buffer[56...]).copyMemory(from: name)
        return xxh3Digest64(UnsafeRawBufferPointer(buffer))
    }
}

/// `name` cut to at most `maximumTypeNameLength` UTF-8 bytes, at a character boundary.
func truncatedTypeName(_ name: String) -> String {
    guard name.utf8.count > maximumTypeNameLength else { return name }
    var cut = ""
    for character in name {
        guard cut.utf8.count + character.utf8.count <= maximumTypeNameLength - 3 else { break }
        cut.append(character)
    }
    return cut + "…"
}

/// Sets the *checksums stale* flag of a container mapped read-write, with the checksums that
/// cover the flags (the trailer's, and the header's from version 2 on).
func markChecksumsStale(_ region: MemoryMapping, layout: ContainerLayout) {
    let flags = layout.flags | ContainerFlags.checksumsStale
    let trailerStart = region.count - trailerSize
    let checksum = trailerChecksum(
        UnsafeRawBufferPointer(rebasing: region.bytes[trailerStart..<trailerStart + 48]), version: layout.header.version, flags: flags)
    region.mutableBytes.storeBytes(of: flags.littleEndian, toByteOffset: 10, as: UInt16.self)
    region.mutableBytes.storeBytes(of: checksum.littleEndian, toByteOffset: trailerStart + 48, as: UInt64.self)
    if layout.header.version >= 2 {
        let header = headerChecksum(
            UnsafeRawBufferPointer(rebasing: region.bytes[0..<56]),
            name: UnsafeRawBufferPointer(rebasing: region.bytes[preambleSize..<layout.header.end]))
        region.mutableBytes.storeBytes(of: header.littleEndian, toByteOffset: 56, as: UInt64.self)
    }
}

func entryBytes(_ entry: SectionEntry) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(sectionEntrySize)
    bytes.appendLittleEndian(UInt64(entry.offset))
    bytes.appendLittleEndian(UInt64(entry.byteCount))
    bytes.appendLittleEndian(UInt64(entry.count))
    bytes.append(entry.elementType.code)
    bytes += [UInt8](repeating: 0, count: 7)
    bytes.appendLittleEndian(entry.digest.high)
    bytes.appendLittleEndian(entry.digest.low)
    return bytes
}

func trailerBytes(_ trailer: Trailer, version: UInt16 = containerFormatVersion) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.appendLittleEndian(UInt64(trailer.valueOffset))
    bytes.appendLittleEndian(UInt64(trailer.valueLength))
    bytes.appendLittleEndian(UInt64(trailer.tableOffset))
    bytes.appendLittleEndian(UInt64(trailer.sectionCount))
    bytes.appendLittleEndian(UInt64(trailer.fileLength))
    bytes.appendLittleEndian(trailer.metadataChecksum)
    // The trailer's own checksum also covers the format version and flags (preamble bytes 8–11).
    bytes.appendLittleEndian(bytes.withUnsafeBytes { trailerChecksum($0, version: version, flags: 0) })
    bytes += trailerMagic
    return bytes
}

/// XXH3-64 over the trailer's first 48 bytes, then the format version and flags (little-endian),
/// assembled on the stack: every load checks it.
func trailerChecksum(_ first48: UnsafeRawBufferPointer, version: UInt16, flags: UInt16) -> UInt64 {
    precondition(first48.count == 48, "the checksummed trailer fields are 48 bytes")
    return withUnsafeTemporaryAllocation(byteCount: 52, alignment: 8) { covered in
        covered.copyMemory(from: first48)
        covered.storeBytes(of: version.littleEndian, toByteOffset: 48, as: UInt16.self)
        covered.storeBytes(of: flags.littleEndian, toByteOffset: 50, as: UInt16.self)
        return xxh3Digest64(UnsafeRawBufferPointer(covered))
    }
}

extension Array where Element == UInt8 {
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}

extension UnsafeRawBufferPointer {
    /// A little-endian integer at `offset`; the caller has checked the bounds.
    func readLittleEndian<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        T(littleEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    /// A 64-bit field that must fit in `Int` to be a valid length or offset.
    func readLength(at offset: Int, _ what: String) throws(PersistenceError) -> Int {
        let value = readLittleEndian(UInt64.self, at: offset)
        guard value <= UInt64(Int.max) else {
            throw PersistenceError(.corruptHeader, "the \(what) field holds an impossible value \(value)")
        }
        return Int(value)
    }
}
