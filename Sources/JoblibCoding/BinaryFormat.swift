// The byte layout shared by BinaryEncoder, BinaryDecoder and hash(_:). Described for people in
// BinaryFormat.md next to this file; change both together, and bump `formatVersion`.

/// The version of the value encoding; part of every content hash.
package let binaryFormatVersion: UInt8 = 1

/// The first byte of every encoded value.
package enum Tag: UInt8 {
    case null = 0x00
    case falseValue = 0x01
    case trueValue = 0x02
    case int8 = 0x10, int16 = 0x11, int32 = 0x12, int64 = 0x13
    case uint8 = 0x14, uint16 = 0x15, uint32 = 0x16, uint64 = 0x17
    case float16 = 0x18, float32 = 0x19, float64 = 0x1A
    case string = 0x20
    /// Entries `0x01 key value`, then `0x00`.
    case keyed = 0x30
    /// Elements `0x01 value`, then `0x00`.
    case unkeyed = 0x31
    /// A dictionary or set in canonical form (hashing only): entries sorted by their bytes.
    case unordered = 0x32
    /// Element type code, varint count, then count × width raw little-endian bytes.
    case bulk = 0x40
    /// Element type code, varint count, varint section number: the bytes are stored elsewhere
    /// (persistence puts large arrays in aligned sections of the file).
    case bulkSection = 0x41
}

extension Tag {
    /// Whether `raw` starts a value (every tag but `unordered`, which only hashing writes).
    @inline(__always) static func isValueTag(_ raw: UInt8) -> Bool {
        // One bit per valid byte below 0x42: 00–02, 10–1A, 20, 30, 31, 40, 41.
        let low: UInt64 = 0b111 | (0x7FF << 0x10) | (1 << 0x20) | (0b11 << 0x30)
        if raw < 64 { return low & (1 << UInt64(raw)) != 0 }
        return raw == 0x40 || raw == 0x41
    }
}

/// Marks an entry or element inside a container; `endMarker` closes the container.
package let entryMarker: UInt8 = 0x01
package let endMarker: UInt8 = 0x00

/// Where bulk arrays may be stored out of line (persistence's aligned sections).
///
/// The encoder offers every bulk array; returning a section number stores a reference instead of
/// the bytes. The decoder asks for the bytes back by that number.
package protocol BulkSectionWriter: AnyObject {
    /// `owner` is the array value that holds `bytes`: a writer that recognises a repeated array
    /// by its address keeps it for as long as it may see that address again, so that the memory
    /// cannot be freed and handed to another array with other contents.
    func storeSection(_ bytes: UnsafeRawBufferPointer, elementType: BulkElementType, count: Int, owner: any Sendable) throws -> UInt64?
}

/// The read side of ``BulkSectionWriter``.
package protocol BulkSectionReader: AnyObject {
    /// The bytes of section `number`; they must stay valid while the decoder runs.
    func section(_ number: UInt64, elementType: BulkElementType, count: Int) throws -> BulkSection
    /// A value the decoder already made from section `number` as `type`, or nil. A reader that
    /// keeps them lets every value that refers to one section share one copy (copy-on-write).
    func decodedValue(ofSection number: UInt64, as type: Any.Type) -> Any?
    /// Offers a value just made from section `number` (`byteCount` bytes) for later reuse.
    func keepDecodedValue(_ value: Any, ofSection number: UInt64, byteCount: Int)
    /// A value of `type` holding exactly `byteCount` bytes whose storage the decoder may
    /// overwrite with a section's bytes instead of allocating new memory (whose first touch the
    /// kernel must zero), or nil. The reader gives it up: nobody else reads it any more.
    func takeReusableValue(as type: Any.Type, byteCount: Int) -> Any?
}

extension BulkSectionReader {
    /// Keeps nothing: each reference to a section is decoded anew.
    package func decodedValue(ofSection number: UInt64, as type: Any.Type) -> Any? { nil }
    package func keepDecodedValue(_ value: Any, ofSection number: UInt64, byteCount: Int) {}
    package func takeReusableValue(as type: Any.Type, byteCount: Int) -> Any? { nil }
}

/// Bytes of a stored section, and whatever keeps them alive (a mapping, a buffer); or, for a
/// section the reader copies in on demand (another process's memory), how to copy it.
package struct BulkSection: @unchecked Sendable {
    // @unchecked: `owner` is only retained, never used, and the bytes are read-only.
    package var bytes: UnsafeRawBufferPointer
    package var owner: AnyObject?
    /// How many bytes the section holds (`bytes.count`, or what `copyIn` writes).
    package var byteCount: Int
    /// Set for a section that is not in this process's memory: copies all `byteCount` bytes
    /// into the buffer it is given (exactly that size), or throws; `bytes` is then empty. The
    /// decoder copies straight into the storage of the value it makes.
    package var copyIn: ((UnsafeMutableRawBufferPointer) throws -> Void)?

    package init(bytes: UnsafeRawBufferPointer, owner: AnyObject?) {
        self.bytes = bytes
        self.owner = owner
        byteCount = bytes.count
    }

    package init(byteCount: Int, copyIn: @escaping (UnsafeMutableRawBufferPointer) throws -> Void) {
        bytes = UnsafeRawBufferPointer(start: nil, count: 0)
        owner = nil
        self.byteCount = byteCount
        self.copyIn = copyIn
    }
}
