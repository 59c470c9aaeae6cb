/// The input of one decoding, and the bounds-checked reads every container goes through.
///
/// Nothing here trusts the input: every length and count is compared with what is left before
/// it is used, and nesting is limited, so corrupt or hostile bytes give a ``CodingError``.
final class DecodingState {
    let base: UnsafeRawPointer
    let count: Int
    let sections: (any BulkSectionReader)?
    let userInfo: [CodingUserInfoKey: any Sendable]
    /// Deep enough for real data, shallow enough for the 512 KiB stacks of secondary threads.
    static let maxDepth = 256

    init(bytes: UnsafeRawBufferPointer, sections: (any BulkSectionReader)?, userInfo: [CodingUserInfoKey: any Sendable]) {
        // An empty buffer may have no base address; any non-null pointer works with count 0.
        base = bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 0x1)!
        count = bytes.count
        self.sections = sections
        self.userInfo = userInfo
    }

    // MARK: Raw reads

    @inline(__always) func require(_ length: Int, at offset: Int, _ what: @autoclosure () -> String) throws {
        guard offset <= count, length <= count - offset else {
            throw CodingError(
                .truncated, "the input ends inside \(what()): \(length) bytes needed, \(max(0, count - offset)) left",
                offset: offset)
        }
    }

    @inline(__always) func byte(at offset: Int) throws -> UInt8 {
        try require(1, at: offset, "a value")
        return base.load(fromByteOffset: offset, as: UInt8.self)
    }

    func tag(at offset: Int) throws -> Tag {
        let raw = try byte(at: offset)
        guard let tag = Tag(rawValue: raw), tag != .unordered else {
            throw CodingError(.invalidTag, "byte 0x\(String(raw, radix: 16)) is not a value tag; the input is corrupt or not from BinaryEncoder", offset: offset)
        }
        return tag
    }

    @inline(__always) func readFixed<T: FixedWidthInteger>(_: T.Type, at offset: Int) throws -> T {
        try require(MemoryLayout<T>.size, at: offset, "a number")
        return T(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    func readVarint(at offset: inout Int) throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try self.byte(at: offset)
            offset += 1
            if shift == 63 && byte > 1 {
                throw CodingError(.invalidTag, "a length does not fit in 64 bits", offset: offset - 1)
            }
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
    }

    /// Reads a varint length and checks that `length × width` bytes are left after it.
    func readLength(at offset: inout Int, width: Int, _ what: String) throws -> Int {
        let start = offset
        let raw = try readVarint(at: &offset)
        let remaining = UInt64(count - offset)
        guard raw <= remaining / UInt64(max(width, 1)) else {
            throw CodingError(
                .lengthExceedsInput, "\(what) declares \(raw) elements of \(width) bytes but only \(remaining) bytes are left",
                offset: start)
        }
        return Int(raw)
    }

    /// The string at `offset` (after its tag); advances past it.
    func readStringBody(at offset: inout Int) throws -> String {
        let length = try readLength(at: &offset, width: 1, "a string")
        let bytes = UnsafeRawBufferPointer(start: base + offset, count: length)
        guard let string = String(validating: bytes, as: UTF8.self) else {
            throw CodingError(.invalidUTF8, "a string is not valid UTF-8", offset: offset)
        }
        offset += length
        return string
    }

    /// Whether the key stored at `offset` (varint length + UTF-8) equals `key`.
    func keyEquals(_ key: String, start: Int, length: Int) -> Bool {
        var key = key
        return key.withUTF8 { utf8 in
            utf8.count == length
                && UnsafeRawBufferPointer(start: base + start, count: length).elementsEqual(UnsafeRawBufferPointer(utf8))
        }
    }

    // MARK: Structure

    /// The offset just past the value starting at `offset`, validating its framing on the way.
    func skipValue(at offset: Int, depth: Int) throws -> Int {
        guard depth <= Self.maxDepth else {
            throw CodingError(.nestingTooDeep, "values are nested more than \(Self.maxDepth) levels deep", offset: offset)
        }
        let tag = try self.tag(at: offset)
        var position = offset + 1
        switch tag {
        case .null, .falseValue, .trueValue:
            return position
        case .int8, .uint8: try require(1, at: position, "a number"); return position + 1
        case .int16, .uint16, .float16: try require(2, at: position, "a number"); return position + 2
        case .int32, .uint32, .float32: try require(4, at: position, "a number"); return position + 4
        case .int64, .uint64, .float64: try require(8, at: position, "a number"); return position + 8
        case .string:
            let length = try readLength(at: &position, width: 1, "a string")
            return position + length
        case .keyed, .unkeyed:
            while true {
                let marker = try byte(at: position)
                position += 1
                if marker == endMarker { return position }
                guard marker == entryMarker else {
                    throw CodingError(.invalidTag, "byte 0x\(String(marker, radix: 16)) inside a container is neither an entry nor its end", offset: position - 1)
                }
                if tag == .keyed {
                    let length = try readLength(at: &position, width: 1, "a key")
                    position += length
                }
                position = try skipValue(at: position, depth: depth + 1)
            }
        case .bulk:
            let elementType = try readElementType(at: position)
            position += 1
            let length = try readLength(at: &position, width: elementType.byteWidth, "an array")
            return position + length * elementType.byteWidth
        case .bulkSection:
            _ = try readElementType(at: position)
            position += 1
            _ = try readVarint(at: &position)
            _ = try readVarint(at: &position)
            return position
        case .unordered:
            preconditionFailure("unreachable: tag(at:) rejects unordered")
        }
    }

    func readElementType(at offset: Int) throws -> BulkElementType {
        let code = try byte(at: offset)
        guard let elementType = BulkElementType(code: code) else {
            throw CodingError(.invalidTag, "byte 0x\(String(code, radix: 16)) is not an array element type", offset: offset)
        }
        return elementType
    }

    // MARK: Values

    func decodeValue<T: Decodable>(_ type: T.Type, at offset: Int, path: CodingPath, depth: Int) throws -> T {
        guard depth <= Self.maxDepth else {
            throw CodingError(.nestingTooDeep, "values are nested more than \(Self.maxDepth) levels deep", codingPath: path.keys, offset: offset)
        }
        if let bulkType = T.self as? any BulkArrayCodable.Type, bulkType.hasBulkLayout {
            return try decodeBulk(bulkType, at: offset, codingPath: path.keys) as! T
        }
        return try T(from: BinaryValueDecoder(state: self, offset: offset, path: path, depth: depth))
    }

    /// The location of a bulk array's bytes: inline, or in a section.
    func bulkBytes(
        at offset: Int, expecting expected: BulkElementType, codingPath: [any CodingKey]
    ) throws -> (bytes: UnsafeRawBufferPointer, count: Int, owner: AnyObject?) {
        let tag = try self.tag(at: offset)
        guard tag == .bulk || tag == .bulkSection else {
            throw typeMismatch("an array of \(expected)", found: tag, codingPath: codingPath, offset: offset)
        }
        let elementType = try readElementType(at: offset + 1)
        guard elementType == expected else {
            throw CodingError(
                .typeMismatch, "expected an array of \(expected), found an array of \(elementType)",
                codingPath: codingPath, offset: offset)
        }
        var position = offset + 2
        if tag == .bulk {
            let count = try readLength(at: &position, width: elementType.byteWidth, "an array")
            return (UnsafeRawBufferPointer(start: base + position, count: count * elementType.byteWidth), count, nil)
        }
        let rawCount = try readVarint(at: &position)
        let number = try readVarint(at: &position)
        guard let sections else {
            throw CodingError(.typeMismatch, "the value refers to a stored array section but no sections are available", codingPath: codingPath, offset: offset)
        }
        guard rawCount <= UInt64(Int.max / elementType.byteWidth) else {
            throw CodingError(.lengthExceedsInput, "an array section declares \(rawCount) elements", codingPath: codingPath, offset: offset)
        }
        let count = Int(rawCount)
        let section = try sections.section(number, elementType: elementType, count: count)
        guard section.bytes.count == count * elementType.byteWidth else {
            throw CodingError(
                .lengthExceedsInput, "array section \(number) holds \(section.bytes.count) bytes, not \(count) × \(elementType.byteWidth)",
                codingPath: codingPath, offset: offset)
        }
        return (section.bytes, count, section.owner)
    }

    private func decodeBulk<B: BulkArrayCodable>(_: B.Type, at offset: Int, codingPath: [any CodingKey]) throws -> B {
        let (bytes, count, owner) = try bulkBytes(at: offset, expecting: B.bulkElementType, codingPath: codingPath)
        return withExtendedLifetime(owner) { B.fromBulkBytes(bytes, count: count, owner: owner) }
    }

    func typeMismatch(_ expected: String, found tag: Tag, codingPath: @autoclosure () -> [any CodingKey], offset: Int) -> CodingError {
        CodingError(.typeMismatch, "expected \(expected), found \(tag.kindName)", codingPath: codingPath(), offset: offset)
    }
}

extension Tag {
    /// The kind of value, for error messages.
    var kindName: String {
        switch self {
        case .null: "nil"
        case .falseValue, .trueValue: "a Bool"
        case .int8: "an Int8"
        case .int16: "an Int16"
        case .int32: "an Int32"
        case .int64: "an Int64"
        case .uint8: "a UInt8"
        case .uint16: "a UInt16"
        case .uint32: "a UInt32"
        case .uint64: "a UInt64"
        case .float16: "a Float16"
        case .float32: "a Float"
        case .float64: "a Double"
        case .string: "a String"
        case .keyed: "a keyed container (struct, class or dictionary)"
        case .unkeyed: "an unkeyed container (array or set)"
        case .unordered: "a canonical dictionary"
        case .bulk, .bulkSection: "a numeric array"
        }
    }
}

