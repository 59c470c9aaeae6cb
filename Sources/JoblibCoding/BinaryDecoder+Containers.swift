/// The `Decoder` handed to one value's `init(from:)`: the value starts at `offset`.
struct BinaryValueDecoder: Decoder {
    let state: DecodingState
    let offset: Int
    let path: CodingPath
    var codingPath: [any CodingKey] { path.keys }
    let depth: Int
    var userInfo: [CodingUserInfoKey: Any] { state.userInfo }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(try BinaryKeyedDecodingContainer<Key>(state: state, offset: offset, path: path, depth: depth))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try BinaryUnkeyedDecodingContainer(state: state, offset: offset, path: path, depth: depth)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        BinarySingleValueDecodingContainer(state: state, offset: offset, path: path, depth: depth)
    }
}

/// Reads one scalar at an offset, checking its tag; shared by all three container kinds.
extension DecodingState {
    func readBool(at offset: Int, _ path: @autoclosure () -> [any CodingKey]) throws -> Bool {
        switch try tag(at: offset) {
        case .trueValue: return true
        case .falseValue: return false
        case let other: throw typeMismatch("a Bool", found: other, codingPath: path(), offset: offset)
        }
    }

    func readString(at offset: Int, _ path: @autoclosure () -> [any CodingKey]) throws -> String {
        let found = try tag(at: offset)
        guard found == .string else { throw typeMismatch("a String", found: found, codingPath: path(), offset: offset) }
        var position = offset + 1
        return try readStringBody(at: &position)
    }

    func readNumber<T: FixedWidthInteger>(_: T.Type, tag expected: Tag, at offset: Int, _ path: @autoclosure () -> [any CodingKey]) throws -> T {
        let found = try tag(at: offset)
        guard found == expected else { throw typeMismatch(expected.kindName, found: found, codingPath: path(), offset: offset) }
        return try readFixed(T.self, at: offset + 1)
    }

    func readDouble(at offset: Int, _ path: @autoclosure () -> [any CodingKey]) throws -> Double {
        Double(bitPattern: try readNumber(UInt64.self, tag: .float64, at: offset, path()))
    }

    func readFloat(at offset: Int, _ path: @autoclosure () -> [any CodingKey]) throws -> Float {
        Float(bitPattern: try readNumber(UInt32.self, tag: .float32, at: offset, path()))
    }

    func isNil(at offset: Int) throws -> Bool { try tag(at: offset) == .null }
}

struct BinaryKeyedDecodingContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let state: DecodingState
    let path: CodingPath
    var codingPath: [any CodingKey] { path.keys }
    let depth: Int
    /// Each entry's key bytes and where its value starts, in stored order.
    private var entries: [(keyStart: Int, keyLength: Int, value: Int)] = []
    /// Synthesised `Codable` reads keys in the order it wrote them: start looking after the last hit.
    private let hint = Hint()

    private final class Hint { var next = 0 }

    init(state: DecodingState, offset: Int, path: CodingPath, depth: Int) throws {
        self.state = state
        self.path = path
        self.depth = depth
        let codingPath = path.keys
        let found = try state.tag(at: offset)
        guard found == .keyed else {
            throw state.typeMismatch(Tag.keyed.kindName, found: found, codingPath: codingPath, offset: offset)
        }
        var position = offset + 1
        while true {
            let marker = try state.byte(at: position)
            position += 1
            if marker == endMarker { break }
            guard marker == entryMarker else {
                throw CodingError(.invalidTag, "byte 0x\(String(marker, radix: 16)) inside a container is neither an entry nor its end", codingPath: codingPath, offset: position - 1)
            }
            let keyLength = try state.readLength(at: &position, width: 1, "a key")
            let keyStart = position
            position += keyLength
            entries.append((keyStart, keyLength, position))
            position = try state.skipValue(at: position, depth: depth + 1)
        }
    }

    var allKeys: [Key] {
        entries.compactMap { entry in
            let bytes = UnsafeRawBufferPointer(start: state.base + entry.keyStart, count: entry.keyLength)
            return String(validating: bytes, as: UTF8.self).flatMap { Key(stringValue: $0) }
        }
    }

    private func find(_ key: any CodingKey) -> Int? {
        let name = key.stringValue
        let count = entries.count
        guard count > 0 else { return nil }
        for step in 0..<count {
            let index = (hint.next + step) % count
            let entry = entries[index]
            if state.keyEquals(name, start: entry.keyStart, length: entry.keyLength) {
                hint.next = index + 1
                return entry.value
            }
        }
        return nil
    }

    private func value(_ key: any CodingKey) throws -> Int {
        guard let offset = find(key) else {
            throw CodingError(.keyNotFound, "no value for key '\(key.stringValue)'", codingPath: path.appending(key).keys)
        }
        return offset
    }

    func contains(_ key: Key) -> Bool { find(key) != nil }

    func decodeNil(forKey key: Key) throws -> Bool { try state.isNil(at: value(key)) }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try state.readBool(at: value(key), path.appending(key).keys) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try state.readString(at: value(key), path.appending(key).keys) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try state.readDouble(at: value(key), path.appending(key).keys) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try state.readFloat(at: value(key), path.appending(key).keys) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { Int(try state.readNumber(Int64.self, tag: .int64, at: value(key), path.appending(key).keys)) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try state.readNumber(Int8.self, tag: .int8, at: value(key), path.appending(key).keys) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try state.readNumber(Int16.self, tag: .int16, at: value(key), path.appending(key).keys) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try state.readNumber(Int32.self, tag: .int32, at: value(key), path.appending(key).keys) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try state.readNumber(Int64.self, tag: .int64, at: value(key), path.appending(key).keys) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { UInt(try state.readNumber(UInt64.self, tag: .uint64, at: value(key), path.appending(key).keys)) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try state.readNumber(UInt8.self, tag: .uint8, at: value(key), path.appending(key).keys) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try state.readNumber(UInt16.self, tag: .uint16, at: value(key), path.appending(key).keys) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try state.readNumber(UInt32.self, tag: .uint32, at: value(key), path.appending(key).keys) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try state.readNumber(UInt64.self, tag: .uint64, at: value(key), path.appending(key).keys) }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try state.decodeValue(T.self, at: value(key), path: path.appending(key), depth: depth + 1)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        KeyedDecodingContainer(try BinaryKeyedDecodingContainer<NestedKey>(state: state, offset: value(key), path: path.appending(key), depth: depth + 1))
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try BinaryUnkeyedDecodingContainer(state: state, offset: value(key), path: path.appending(key), depth: depth + 1)
    }

    func superDecoder() throws -> any Decoder { try superDecoder(for: NameKey("super")) }

    func superDecoder(forKey key: Key) throws -> any Decoder { try superDecoder(for: key) }

    private func superDecoder(for key: any CodingKey) throws -> any Decoder {
        BinaryValueDecoder(state: state, offset: try value(key), path: path.appending(key), depth: depth + 1)
    }
}

/// Reads an unkeyed container element by element; also reads a bulk array that way, so a type
/// whose `init(from:)` loops over numbers can decode what `[Double]` encoded in bulk.
struct BinaryUnkeyedDecodingContainer: UnkeyedDecodingContainer {
    let state: DecodingState
    let path: CodingPath
    var codingPath: [any CodingKey] { path.keys }
    let depth: Int
    private(set) var currentIndex = 0
    private var position: Int
    /// Set when reading a bulk array: its element type, element count and first byte.
    private let bulk: (elementType: BulkElementType, count: Int, bytes: UnsafeRawBufferPointer, owner: AnyObject?)?

    init(state: DecodingState, offset: Int, path: CodingPath, depth: Int) throws {
        self.state = state
        self.path = path
        self.depth = depth
        let found = try state.tag(at: offset)
        switch found {
        case .unkeyed:
            position = offset + 1
            bulk = nil
        case .bulk, .bulkSection:
            let elementType = try state.readElementType(at: offset + 1)
            let (bytes, count, owner) = try state.bulkBytes(at: offset, expecting: elementType, codingPath: path.keys)
            position = 0
            bulk = (elementType, count, bytes, owner)
        default:
            throw state.typeMismatch(Tag.unkeyed.kindName, found: found, codingPath: path.keys, offset: offset)
        }
    }

    var count: Int? { bulk?.count }

    var isAtEnd: Bool {
        if let bulk { return currentIndex >= bulk.count }
        return (try? state.byte(at: position)) != entryMarker
    }

    private var elementPath: CodingPath { path.appending(IndexKey(currentIndex)) }

    /// Moves to the next element and returns where it starts.
    private mutating func next() throws -> Int {
        let marker = try state.byte(at: position)
        guard marker == entryMarker else {
            throw CodingError(.keyNotFound, "the array has no element \(currentIndex)", codingPath: elementPath.keys, offset: position)
        }
        let start = position + 1
        position = try state.skipValue(at: start, depth: depth + 1)
        currentIndex += 1
        return start
    }

    /// The next element of a bulk array, which must be of element type `T`.
    private mutating func nextBulk<T: BulkCodable>(_: T.Type) throws -> T {
        guard let bulk else { preconditionFailure("nextBulk outside a bulk array") }
        guard currentIndex < bulk.count else {
            throw CodingError(.keyNotFound, "the array has no element \(currentIndex)", codingPath: elementPath.keys)
        }
        guard T.bulkElementType == bulk.elementType, MemoryLayout<T>.stride == bulk.elementType.byteWidth else {
            throw CodingError(.typeMismatch, "expected \(T.self), found an array of \(bulk.elementType)", codingPath: elementPath.keys)
        }
        let value = bulk.bytes.loadUnaligned(fromByteOffset: currentIndex * bulk.elementType.byteWidth, as: T.self)
        currentIndex += 1
        return value
    }

    private mutating func scalar<T: BulkCodable>(
        _ type: T.Type, _ read: (DecodingState, Int, @autoclosure () -> [any CodingKey]) throws -> T
    ) throws -> T {
        if bulk != nil { return try nextBulk(T.self) }
        let elementPath = elementPath
        return try read(state, try next(), elementPath.keys)
    }

    mutating func decodeNil() throws -> Bool {
        if bulk != nil { return false }
        guard try state.isNil(at: position + 1) else { return false }
        _ = try next()
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool {
        if bulk != nil { throw CodingError(.typeMismatch, "expected a Bool, found a numeric array", codingPath: elementPath.keys) }
        let elementPath = elementPath
        return try state.readBool(at: try next(), elementPath.keys)
    }

    mutating func decode(_ type: String.Type) throws -> String {
        if bulk != nil { throw CodingError(.typeMismatch, "expected a String, found a numeric array", codingPath: elementPath.keys) }
        let elementPath = elementPath
        return try state.readString(at: try next(), elementPath.keys)
    }

    mutating func decode(_ type: Double.Type) throws -> Double { try scalar(Double.self) { try $0.readDouble(at: $1, $2()) } }
    mutating func decode(_ type: Float.Type) throws -> Float { try scalar(Float.self) { try $0.readFloat(at: $1, $2()) } }
    mutating func decode(_ type: Int.Type) throws -> Int { try scalar(Int.self) { Int(try $0.readNumber(Int64.self, tag: .int64, at: $1, $2())) } }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try scalar(Int8.self) { try $0.readNumber(Int8.self, tag: .int8, at: $1, $2()) } }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try scalar(Int16.self) { try $0.readNumber(Int16.self, tag: .int16, at: $1, $2()) } }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try scalar(Int32.self) { try $0.readNumber(Int32.self, tag: .int32, at: $1, $2()) } }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try scalar(Int64.self) { try $0.readNumber(Int64.self, tag: .int64, at: $1, $2()) } }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try scalar(UInt.self) { UInt(try $0.readNumber(UInt64.self, tag: .uint64, at: $1, $2())) } }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try scalar(UInt8.self) { try $0.readNumber(UInt8.self, tag: .uint8, at: $1, $2()) } }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try scalar(UInt16.self) { try $0.readNumber(UInt16.self, tag: .uint16, at: $1, $2()) } }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try scalar(UInt32.self) { try $0.readNumber(UInt32.self, tag: .uint32, at: $1, $2()) } }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try scalar(UInt64.self) { try $0.readNumber(UInt64.self, tag: .uint64, at: $1, $2()) } }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        if bulk != nil {
            if let number = T.self as? any BulkCodable.Type { return try nextBulk(number) as! T }
            throw CodingError(.typeMismatch, "expected \(T.self), found a numeric array", codingPath: elementPath.keys)
        }
        let elementPath = elementPath
        let start = try next()
        return try state.decodeValue(T.self, at: start, path: elementPath, depth: depth + 1)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let elementPath = elementPath
        return KeyedDecodingContainer(try BinaryKeyedDecodingContainer<NestedKey>(state: state, offset: try next(), path: elementPath, depth: depth + 1))
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let elementPath = elementPath
        return try BinaryUnkeyedDecodingContainer(state: state, offset: try next(), path: elementPath, depth: depth + 1)
    }

    mutating func superDecoder() throws -> any Decoder {
        let elementPath = elementPath
        return BinaryValueDecoder(state: state, offset: try next(), path: elementPath, depth: depth + 1)
    }
}

struct BinarySingleValueDecodingContainer: SingleValueDecodingContainer {
    let state: DecodingState
    let offset: Int
    let path: CodingPath
    var codingPath: [any CodingKey] { path.keys }
    let depth: Int

    func decodeNil() -> Bool { (try? state.isNil(at: offset)) ?? false }
    func decode(_ type: Bool.Type) throws -> Bool { try state.readBool(at: offset, codingPath) }
    func decode(_ type: String.Type) throws -> String { try state.readString(at: offset, codingPath) }
    func decode(_ type: Double.Type) throws -> Double { try state.readDouble(at: offset, codingPath) }
    func decode(_ type: Float.Type) throws -> Float { try state.readFloat(at: offset, codingPath) }
    func decode(_ type: Int.Type) throws -> Int { Int(try state.readNumber(Int64.self, tag: .int64, at: offset, codingPath)) }
    func decode(_ type: Int8.Type) throws -> Int8 { try state.readNumber(Int8.self, tag: .int8, at: offset, codingPath) }
    func decode(_ type: Int16.Type) throws -> Int16 { try state.readNumber(Int16.self, tag: .int16, at: offset, codingPath) }
    func decode(_ type: Int32.Type) throws -> Int32 { try state.readNumber(Int32.self, tag: .int32, at: offset, codingPath) }
    func decode(_ type: Int64.Type) throws -> Int64 { try state.readNumber(Int64.self, tag: .int64, at: offset, codingPath) }
    func decode(_ type: UInt.Type) throws -> UInt { UInt(try state.readNumber(UInt64.self, tag: .uint64, at: offset, codingPath)) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try state.readNumber(UInt8.self, tag: .uint8, at: offset, codingPath) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try state.readNumber(UInt16.self, tag: .uint16, at: offset, codingPath) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try state.readNumber(UInt32.self, tag: .uint32, at: offset, codingPath) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try state.readNumber(UInt64.self, tag: .uint64, at: offset, codingPath) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try state.decodeValue(T.self, at: offset, path: path, depth: depth + 1)
    }
}
