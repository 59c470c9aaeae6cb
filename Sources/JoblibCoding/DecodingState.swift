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

    // One decoding runs on one thread and never re-enters these properties while modifying them,
    // so the dynamic exclusivity checks are off.

    /// A known fact about the input: the value at `start` ends at `end`. Containers record their
    /// end here when they reach it, so the container around them need not walk them again.
    @exclusivity(unchecked) var endHint: (start: Int, end: Int) = (-1, -1)
    /// Decoders whose value is finished and that nobody else holds, ready for the next value.
    @exclusivity(unchecked) private var freeDecoders: BinaryValueDecoder?
    @exclusivity(unchecked) private var typeFlags = TypeFlagsCache()

    init(bytes: UnsafeRawBufferPointer, sections: (any BulkSectionReader)?, userInfo: [CodingUserInfoKey: any Sendable]) {
        // An empty buffer may have no base address; any non-null pointer works with count 0.
        base = bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 0x1)!
        count = bytes.count
        self.sections = sections
        self.userInfo = userInfo
    }

    /// Drops the spare decoders (they refer back to the state); call when the decoding is over.
    func finish() {
        var spare = freeDecoders
        freeDecoders = nil
        while let decoder = spare {
            spare = decoder.nextFree
            decoder.nextFree = nil
        }
    }

    // MARK: Raw reads

    @inline(__always) func require(_ length: Int, at offset: Int, _ what: @autoclosure () -> String) throws {
        guard offset <= count, length <= count - offset else {
            throw truncated(length, at: offset, what())
        }
    }

    @inline(never) private func truncated(_ length: Int, at offset: Int, _ what: String) -> CodingError {
        CodingError(
            .truncated, "the input ends inside \(what): \(length) bytes needed, \(max(0, count - offset)) left",
            offset: offset)
    }

    @inline(__always) func byte(at offset: Int) throws -> UInt8 {
        guard offset >= 0, offset < count else { throw truncated(1, at: offset, "a value") }
        return base.load(fromByteOffset: offset, as: UInt8.self)
    }

    /// The byte at `offset` if it is a valid value tag (the tag's raw value).
    @inline(__always) func rawTag(at offset: Int) throws -> UInt8 {
        let raw = try byte(at: offset)
        guard Tag.isValueTag(raw) else { throw invalidTag(raw, at: offset) }
        return raw
    }

    func tag(at offset: Int) throws -> Tag {
        let raw = try byte(at: offset)
        guard Tag.isValueTag(raw), let tag = Tag(rawValue: raw) else { throw invalidTag(raw, at: offset) }
        return tag
    }

    @inline(never) func invalidTag(_ raw: UInt8, at offset: Int) -> CodingError {
        CodingError(.invalidTag, "byte 0x\(String(raw, radix: 16)) is not a value tag; the input is corrupt or not from BinaryEncoder", offset: offset)
    }

    @inline(__always) func readFixed<T: FixedWidthInteger>(_: T.Type, at offset: Int) throws -> T {
        try require(MemoryLayout<T>.size, at: offset, "a number")
        return T(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    @inline(__always) func readVarint(at offset: inout Int) throws -> UInt64 {
        let first = try byte(at: offset)
        if first < 0x80 {
            offset += 1
            return UInt64(first)
        }
        return try readLongVarint(at: &offset)
    }

    private func readLongVarint(at offset: inout Int) throws -> UInt64 {
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
    @inline(__always) func readLength(at offset: inout Int, width: Int, _ what: @autoclosure () -> String) throws -> Int {
        let start = offset
        let raw = try readVarint(at: &offset)
        let remaining = UInt64(count - offset)
        guard raw <= remaining / UInt64(max(width, 1)) else {
            throw lengthExceedsInput(raw, width: width, remaining: remaining, what(), at: start)
        }
        return Int(raw)
    }

    @inline(never) private func lengthExceedsInput(_ raw: UInt64, width: Int, remaining: UInt64, _ what: String, at offset: Int) -> CodingError {
        CodingError(
            .lengthExceedsInput, "\(what) declares \(raw) elements of \(width) bytes but only \(remaining) bytes are left",
            offset: offset)
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

    /// Whether the `length` key bytes at `start` equal `key` (both already bounds-checked).
    @inline(__always) func keyEquals(_ key: UnsafeBufferPointer<UInt8>, start: Int, length: Int) -> Bool {
        guard key.count == length else { return false }
        var index = 0
        while index < length {
            guard base.load(fromByteOffset: start + index, as: UInt8.self) == key[index] else { return false }
            index += 1
        }
        return true
    }

    // MARK: Structure

    /// The offset just past the value starting at `offset`, validating its framing on the way.
    func skipValue(at offset: Int, depth: Int) throws -> Int {
        guard depth <= Self.maxDepth else {
            throw CodingError(.nestingTooDeep, "values are nested more than \(Self.maxDepth) levels deep", offset: offset)
        }
        let raw = try rawTag(at: offset)
        var position = offset + 1
        switch raw {
        case Tag.null.rawValue, Tag.falseValue.rawValue, Tag.trueValue.rawValue:
            return position
        case Tag.int8.rawValue, Tag.uint8.rawValue: try require(1, at: position, "a number"); return position + 1
        case Tag.int16.rawValue, Tag.uint16.rawValue, Tag.float16.rawValue: try require(2, at: position, "a number"); return position + 2
        case Tag.int32.rawValue, Tag.uint32.rawValue, Tag.float32.rawValue: try require(4, at: position, "a number"); return position + 4
        case Tag.int64.rawValue, Tag.uint64.rawValue, Tag.float64.rawValue: try require(8, at: position, "a number"); return position + 8
        case Tag.string.rawValue:
            let length = try readLength(at: &position, width: 1, "a string")
            return position + length
        case Tag.keyed.rawValue, Tag.unkeyed.rawValue:
            let keyed = raw == Tag.keyed.rawValue
            while true {
                let marker = try byte(at: position)
                position += 1
                if marker == endMarker { return position }
                guard marker == entryMarker else { throw notAnEntry(marker, at: position - 1) }
                if keyed {
                    let length = try readLength(at: &position, width: 1, "a key")
                    position += length
                }
                position = try skipValue(at: position, depth: depth + 1)
            }
        case Tag.bulk.rawValue:
            let elementType = try readElementType(at: position)
            position += 1
            let length = try readLength(at: &position, width: elementType.byteWidth, "an array")
            return position + length * elementType.byteWidth
        case Tag.bulkSection.rawValue:
            _ = try readElementType(at: position)
            position += 1
            _ = try readVarint(at: &position)
            _ = try readVarint(at: &position)
            return position
        default:
            preconditionFailure("unreachable: rawTag(at:) accepts only value tags")
        }
    }

    /// The end of the value at `start`: from ``endHint`` when a container just recorded it, else
    /// by walking the value.
    @inline(__always) func valueEnd(_ start: Int, depth: Int) throws -> Int {
        if endHint.start == start { return endHint.end }
        return try skipValue(at: start, depth: depth)
    }

    @inline(never) func notAnEntry(_ marker: UInt8, at offset: Int, codingPath: [any CodingKey] = []) -> CodingError {
        CodingError(
            .invalidTag, "byte 0x\(String(marker, radix: 16)) inside a container is neither an entry nor its end",
            codingPath: codingPath, offset: offset)
    }

    func readElementType(at offset: Int) throws -> BulkElementType {
        let code = try byte(at: offset)
        guard let elementType = BulkElementType(code: code) else {
            throw CodingError(.invalidTag, "byte 0x\(String(code, radix: 16)) is not an array element type", offset: offset)
        }
        return elementType
    }

    // MARK: Values

    /// A decoder for the value at `offset`: a spare one if there is one.
    @inline(__always) func makeDecoder(offset: Int, path: CodingPath, depth: Int) -> BinaryValueDecoder {
        guard let decoder = freeDecoders else {
            return BinaryValueDecoder(state: self, offset: offset, path: path, depth: depth)
        }
        freeDecoders = decoder.nextFree
        decoder.nextFree = nil
        decoder.reset(offset: offset, path: path, depth: depth)
        return decoder
    }

    /// Keeps `decoder` for the next value unless something else still holds it.
    @inline(__always) func recycle(_ decoder: inout BinaryValueDecoder) {
        guard isKnownUniquelyReferenced(&decoder) else { return }
        decoder.nextFree = freeDecoders
        freeDecoders = decoder
    }

    func decodeValue<T: Decodable>(_ type: T.Type, at offset: Int, path: CodingPath, depth: Int) throws -> T {
        guard depth <= Self.maxDepth else {
            throw CodingError(.nestingTooDeep, "values are nested more than \(Self.maxDepth) levels deep", codingPath: path.keys, offset: offset)
        }
        if typeFlags.flags(for: T.self, TypeFlagsCache.classify) & TypeFlagsCache.bulk != 0,
            let bulkType = T.self as? any BulkArrayCodable.Type
        {
            return try decodeBulk(bulkType, at: offset, codingPath: path.keys) as! T
        }
        var decoder = makeDecoder(offset: offset, path: path, depth: depth)
        let value = try T(from: decoder)
        recycle(&decoder)
        return value
    }

    /// The location of a bulk array's bytes: inline, or in a section.
    func bulkBytes(
        at offset: Int, expecting expected: BulkElementType, codingPath: [any CodingKey]
    ) throws -> (bytes: UnsafeRawBufferPointer, count: Int, owner: AnyObject?, section: UInt64?) {
        let found = try bulkLocation(at: offset, expecting: expected, codingPath: codingPath)
        guard let copyIn = found.copyIn else { return (found.bytes, found.count, found.owner, found.section) }
        // A section in another process's memory, read by a caller that needs the bytes here:
        // copied into a buffer that lives as long as what is made from it.
        let buffer = CopiedSection(byteCount: found.byteCount)
        try copyIn(buffer.bytes)
        return (UnsafeRawBufferPointer(buffer.bytes), found.count, buffer, found.section)
    }

    /// The location of a bulk array's bytes: inline, in a section, or in a section the reader
    /// copies in (`copyIn`, for ``decodeBulk(_:at:codingPath:)`` to copy straight into the value).
    private func bulkLocation(
        at offset: Int, expecting expected: BulkElementType, codingPath: [any CodingKey]
    ) throws -> (
        bytes: UnsafeRawBufferPointer, count: Int, owner: AnyObject?, section: UInt64?, byteCount: Int,
        copyIn: ((UnsafeMutableRawBufferPointer) throws -> Void)?
    ) {
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
            return (
                UnsafeRawBufferPointer(start: base + position, count: count * elementType.byteWidth), count, nil, nil,
                count * elementType.byteWidth, nil
            )
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
        guard section.byteCount == count * elementType.byteWidth, section.copyIn != nil || section.bytes.count == section.byteCount else {
            throw CodingError(
                .lengthExceedsInput, "array section \(number) holds \(section.byteCount) bytes, not \(count) × \(elementType.byteWidth)",
                codingPath: codingPath, offset: offset)
        }
        return (section.bytes, count, section.owner, number, section.byteCount, section.copyIn)
    }

    private func decodeBulk<B: BulkArrayCodable>(_: B.Type, at offset: Int, codingPath: [any CodingKey]) throws -> B {
        let found = try bulkLocation(at: offset, expecting: B.bulkElementType, codingPath: codingPath)
        // Values that refer to one section (one array in many tasks) share one decoded copy
        // when the reader keeps them.
        if let section = found.section, let kept = sections?.decodedValue(ofSection: section, as: B.self) as? B { return kept }
        let value: B
        if let section = found.section, B.copiesBulkBytes,
           var reused = sections?.takeReusableValue(as: B.self, byteCount: found.byteCount) as? B,
           reused.bulkCount == found.count,
           try withExtendedLifetime(found.owner, {
               try reused.overwriteBulkBytes { destination in
                   if let copyIn = found.copyIn { try copyIn(destination) } else { destination.copyMemory(from: found.bytes) }
               }
           })
        {
            // An earlier call's copy of the same size: its pages are already there (no zeroing).
            value = reused
            sections?.keepDecodedValue(value, ofSection: section, byteCount: found.byteCount)
            return value
        } else if let copyIn = found.copyIn, B.copiesBulkBytes {
            value = try B.fromBulkFill(count: found.count, byteCount: found.byteCount, copyIn)
        } else if found.copyIn != nil {
            let (bytes, count, owner, _) = try bulkBytes(at: offset, expecting: B.bulkElementType, codingPath: codingPath)
            value = withExtendedLifetime(owner) { B.fromBulkBytes(bytes, count: count, owner: owner) }
        } else {
            value = withExtendedLifetime(found.owner) { B.fromBulkBytes(found.bytes, count: found.count, owner: found.owner) }
        }
        if let section = found.section, B.copiesBulkBytes {
            sections?.keepDecodedValue(value, ofSection: section, byteCount: found.byteCount)
        }
        return value
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

/// The bytes of a section copied in from another process, for decoders that read them in place
/// (an element-by-element container, a type that keeps a view): freed with the last user.
final class CopiedSection {
    private let allocation: UnsafeMutableRawBufferPointer
    /// `byteCount` bytes.
    let bytes: UnsafeMutableRawBufferPointer

    init(byteCount: Int) {
        allocation = UnsafeMutableRawBufferPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
        bytes = UnsafeMutableRawBufferPointer(rebasing: allocation[0..<byteCount])
    }

    deinit { allocation.deallocate() }
}
