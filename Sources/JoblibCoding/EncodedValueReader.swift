// Reads an encoded value item by item without a target type, for tools that show what a file
// holds (`joblib inspect`). It goes through the decoder's own bounds-checked reads
// (`DecodingState`), so inspection and decoding cannot disagree about what is well-formed.

/// One item of an encoded value (BinaryFormat.md), as ``EncodedValueReader`` finds it.
package enum EncodedItem {
    case null
    case bool(Bool)
    /// A signed integer and the width it was stored with (`int8` … `int64`).
    case signed(Int64, BulkElementType)
    /// An unsigned integer and the width it was stored with (`uint8` … `uint64`).
    case unsigned(UInt64, BulkElementType)
    /// A `Float16`'s bits (the type is not available on every platform).
    case float16Bits(UInt16)
    case float32(Float)
    case float64(Double)
    case string(String)
    /// A numeric array stored inline: its element type, count and raw little-endian bytes.
    case inlineArray(BulkElementType, count: Int, bytes: UnsafeRawBufferPointer)
    /// A numeric array stored out of line, in section `section` of the enclosing file.
    case sectionArray(BulkElementType, count: Int, section: Int)
    /// A struct or dictionary (`keyed`) or an array of non-numeric values: its entries follow;
    /// read them with ``EncodedValueReader/nextEntry(_:)``.
    case container(EncodedContainer)
}

/// Where the entries of a container item are, for ``EncodedValueReader/nextEntry(_:)``.
package struct EncodedContainer {
    /// Whether entries carry keys (a struct or dictionary) or not (an array).
    package let keyed: Bool
    /// The next entry's marker.
    package fileprivate(set) var offset: Int
    /// The depth of the container's entries.
    package let depth: Int
    /// The offset just past the container, once ``EncodedValueReader/nextEntry(_:)`` has
    /// returned nil.
    package var end: Int { offset }
}

/// Walks an encoded value without decoding it into a type. Every length is checked before use,
/// nesting is limited as in decoding, and malformed input throws ``CodingError``.
package struct EncodedValueReader {
    private let state: DecodingState

    package init(bytes: UnsafeRawBufferPointer) {
        state = DecodingState(bytes: bytes, sections: nil, userInfo: [:])
    }

    /// The item starting at `offset` and the offset just past it (for a container: just past its
    /// tag; the container's own ``EncodedContainer/end`` is known once its entries are read).
    package func item(at offset: Int, depth: Int) throws -> (EncodedItem, next: Int) {
        guard depth <= DecodingState.maxDepth else {
            throw CodingError(.nestingTooDeep, "values are nested more than \(DecodingState.maxDepth) levels deep", offset: offset)
        }
        let tag = try state.tag(at: offset)
        var position = offset + 1
        func fixed<T: FixedWidthInteger>(_: T.Type) throws -> T {
            defer { position += MemoryLayout<T>.size }
            return try state.readFixed(T.self, at: position)
        }
        switch tag {
        case .null: return (.null, position)
        case .falseValue: return (.bool(false), position)
        case .trueValue: return (.bool(true), position)
        case .int8: return (.signed(Int64(try fixed(Int8.self)), .int8), position)
        case .int16: return (.signed(Int64(try fixed(Int16.self)), .int16), position)
        case .int32: return (.signed(Int64(try fixed(Int32.self)), .int32), position)
        case .int64: return (.signed(try fixed(Int64.self), .int64), position)
        case .uint8: return (.unsigned(UInt64(try fixed(UInt8.self)), .uint8), position)
        case .uint16: return (.unsigned(UInt64(try fixed(UInt16.self)), .uint16), position)
        case .uint32: return (.unsigned(UInt64(try fixed(UInt32.self)), .uint32), position)
        case .uint64: return (.unsigned(try fixed(UInt64.self), .uint64), position)
        case .float16: return (.float16Bits(try fixed(UInt16.self)), position)
        case .float32: return (.float32(Float(bitPattern: try fixed(UInt32.self))), position)
        case .float64: return (.float64(Double(bitPattern: try fixed(UInt64.self))), position)
        case .string: return (.string(try state.readStringBody(at: &position)), position)
        case .keyed, .unkeyed:
            return (.container(EncodedContainer(keyed: tag == .keyed, offset: position, depth: depth + 1)), position)
        case .bulk:
            let elementType = try state.readElementType(at: position)
            position += 1
            let count = try state.readLength(at: &position, width: elementType.byteWidth, "an array")
            let bytes = UnsafeRawBufferPointer(start: state.base + position, count: count * elementType.byteWidth)
            return (.inlineArray(elementType, count: count, bytes: bytes), position + bytes.count)
        case .bulkSection:
            let elementType = try state.readElementType(at: position)
            position += 1
            let count = try state.readVarint(at: &position)
            let section = try state.readVarint(at: &position)
            guard count <= UInt64(Int.max), section <= UInt64(Int.max) else {
                throw CodingError(.lengthExceedsInput, "an array refers to an impossible section or count", offset: offset)
            }
            return (.sectionArray(elementType, count: Int(count), section: Int(section)), position)
        case .unordered:
            throw state.invalidTag(tag.rawValue, at: offset)
        }
    }

    /// The next entry of `container`: its key (nil in an array) and where its value starts, or
    /// nil after the last entry. Read the value (``item(at:depth:)``, or ``skip(at:depth:)``)
    /// and report where it ends with ``entryEnded(_:at:)`` before asking for the next entry.
    package func nextEntry(_ container: inout EncodedContainer) throws -> (key: String?, value: Int)? {
        let marker = try state.byte(at: container.offset)
        var position = container.offset + 1
        if marker == endMarker {
            container.offset = position
            return nil
        }
        guard marker == entryMarker else { throw state.notAnEntry(marker, at: container.offset) }
        let key = container.keyed ? try state.readStringBody(at: &position) : nil
        container.offset = position
        return (key, position)
    }

    /// Tells `container` that the value of its current entry ends at `valueEnd`.
    package func entryEnded(_ container: inout EncodedContainer, at valueEnd: Int) {
        container.offset = valueEnd
    }

    /// The offset just past the value at `offset`, checking its framing without reading it.
    package func skip(at offset: Int, depth: Int) throws -> Int {
        try state.skipValue(at: offset, depth: depth)
    }
}
