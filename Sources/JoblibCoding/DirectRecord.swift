/// Writes one struct field by field in exactly the bytes `BinaryEncoder` gives its synthesised
/// `Codable` conformance (BinaryFormat.md: a keyed container, entries in declaration order,
/// absent optionals left out), for a wire message coded once per frame.
///
/// A struct coded once per run pays `Codable`'s fixed costs on every field (a container, generic
/// metadata and conformance lookups of its one-off types): a few microseconds for a worker's
/// `results` frame, about 40 ns per tiny task (BENCHMARKS.md, "`Codable` tiny tasks"). Whoever
/// writes a message this way must keep a test that compares the bytes with `BinaryEncoder`'s.
package struct DirectRecordWriter {
    package private(set) var bytes: [UInt8]

    package init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
        bytes.append(Tag.keyed.rawValue)
    }

    private mutating func varint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    private mutating func key(_ name: StaticString) {
        bytes.append(entryMarker)
        varint(UInt64(name.utf8CodeUnitCount))
        bytes.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
    }

    private mutating func fixed<T: FixedWidthInteger>(_ tag: Tag, _ value: T) {
        bytes.append(tag.rawValue)
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    private mutating func bulk<T: BulkCodable & FixedWidthInteger>(_ values: [T]) {
        bytes.append(Tag.bulk.rawValue)
        bytes.append(T.bulkElementType.code)
        varint(UInt64(values.count))
        values.withUnsafeBytes { raw in
            if T.bitWidth == 8 || UInt16(1).littleEndian == 1 {
                bytes.append(contentsOf: raw)
            } else {
                for value in values { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
            }
        }
    }

    package mutating func field(_ name: StaticString, _ values: [Int]) { key(name); bulk(values) }
    package mutating func field(_ name: StaticString, _ values: [UInt8]) { key(name); bulk(values) }
    package mutating func field(_ name: StaticString, _ value: Int) { key(name); fixed(.int64, Int64(value)) }
    package mutating func field(_ name: StaticString, _ value: UInt64) { key(name); fixed(.uint64, value) }

    package mutating func field(_ name: StaticString, _ value: String) {
        key(name)
        bytes.append(Tag.string.rawValue)
        var value = value
        value.withUTF8 { utf8 in
            varint(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    /// A nested struct: its fields follow, then ``endStruct()``.
    package mutating func beginStruct(_ name: StaticString) {
        key(name)
        bytes.append(Tag.keyed.rawValue)
    }

    package mutating func endStruct() { bytes.append(endMarker) }

    /// The bytes, the struct closed.
    package consuming func finish() -> [UInt8] {
        bytes.append(endMarker)
        return bytes
    }
}

/// Reads what ``DirectRecordWriter`` writes, field by field in the same order. Every read checks
/// what it finds and answers nil on anything else: the caller then decodes the bytes with
/// `BinaryDecoder`, which accepts every encoding of the struct and reports what is wrong.
package struct DirectRecordReader {
    private let base: UnsafeRawBufferPointer
    private var position = 0

    /// Nil unless `bytes` starts with a keyed container.
    package init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.first == Tag.keyed.rawValue else { return nil }
        base = bytes
        position = 1
    }

    private func byte(at offset: Int) -> UInt8? { offset < base.count ? base[offset] : nil }

    private mutating func varint() -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while let byte = byte(at: position) {
            position += 1
            guard shift < 63 || (shift == 63 && byte <= 1) else { return nil }
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
        return nil
    }

    /// Whether the next entry's key is `name` (then reads past it).
    package mutating func key(_ name: StaticString) -> Bool {
        let start = position
        guard byte(at: position) == entryMarker else { return false }
        position += 1
        guard let length = varint(), length == UInt64(name.utf8CodeUnitCount),
              base.count - position >= name.utf8CodeUnitCount,
              (0..<name.utf8CodeUnitCount).allSatisfy({ base[position + $0] == name.utf8Start[$0] })
        else {
            position = start
            return false
        }
        position += name.utf8CodeUnitCount
        return true
    }

    private mutating func fixed<T: FixedWidthInteger>(_ tag: Tag) -> T? {
        guard byte(at: position) == tag.rawValue, base.count - position - 1 >= MemoryLayout<T>.size else { return nil }
        let value = T(littleEndian: base.loadUnaligned(fromByteOffset: position + 1, as: T.self))
        position += 1 + MemoryLayout<T>.size
        return value
    }

    private mutating func bulk<T: BulkCodable & FixedWidthInteger>(_: T.Type) -> [T]? {
        guard byte(at: position) == Tag.bulk.rawValue, byte(at: position + 1) == T.bulkElementType.code else { return nil }
        position += 2
        guard let count = varint(), count <= UInt64(base.count - position) / UInt64(MemoryLayout<T>.size) else { return nil }
        let values = (0..<Int(count)).map {
            T(littleEndian: base.loadUnaligned(fromByteOffset: position + $0 * MemoryLayout<T>.size, as: T.self))
        }
        position += Int(count) * MemoryLayout<T>.size
        return values
    }

    package mutating func ints(_ name: StaticString) -> [Int]? { key(name) ? bulk(Int.self) : nil }
    package mutating func bytes(_ name: StaticString) -> [UInt8]? { key(name) ? bulk(UInt8.self) : nil }

    package mutating func int(_ name: StaticString) -> Int? {
        guard key(name), let value: Int64 = fixed(.int64) else { return nil }
        return Int(exactly: value)
    }

    package mutating func uint64(_ name: StaticString) -> UInt64? { key(name) ? fixed(.uint64) : nil }

    package mutating func string(_ name: StaticString) -> String? {
        guard key(name), byte(at: position) == Tag.string.rawValue else { return nil }
        position += 1
        guard let length = varint(), length <= UInt64(base.count - position) else { return nil }
        let utf8 = UnsafeRawBufferPointer(rebasing: base[position..<position + Int(length)])
        guard let string = String(validating: utf8, as: UTF8.self) else { return nil }
        position += Int(length)
        return string
    }

    /// Whether a nested struct `name` starts here (then reads past its tag).
    package mutating func beginStruct(_ name: StaticString) -> Bool {
        let start = position
        guard key(name), byte(at: position) == Tag.keyed.rawValue else {
            position = start
            return false
        }
        position += 1
        return true
    }

    /// Whether the current struct ends here (then reads past its end).
    package mutating func endStruct() -> Bool {
        guard byte(at: position) == endMarker else { return false }
        position += 1
        return true
    }

    /// Whether the outer struct ends here and nothing follows it.
    package mutating func finish() -> Bool { endStruct() && position == base.count }
}
