/// The `Decoder` handed to one value's `init(from:)`: the value starts at `offset`.
///
/// A class, so that handing it over as `any Decoder` allocates nothing: the state keeps finished
/// decoders that nobody else holds and reuses them for later values. It also keeps the position
/// of its keyed container between lookups (the container itself cannot change).
final class BinaryValueDecoder: Decoder {
    let state: DecodingState
    @exclusivity(unchecked) private(set) var offset: Int
    @exclusivity(unchecked) private(set) var path: CodingPath
    @exclusivity(unchecked) private(set) var depth: Int
    var codingPath: [any CodingKey] { path.keys }
    var userInfo: [CodingUserInfoKey: Any] { state.userInfo }

    // The keyed container's cursor. Synthesised `Codable` reads keys in the order it wrote them,
    // so the next key asked for is usually the entry after the last one found.

    /// Where the last key found starts (its length varint), or -1.
    @exclusivity(unchecked) var lastKey = -1
    /// Where that key's value starts.
    @exclusivity(unchecked) var lastValue = -1
    /// The marker after that value, or -1 until someone needs it.
    @exclusivity(unchecked) var nextEntry = -1
    /// Every entry, once a lookup had to search far: then lookups search these keys instead of
    /// walking values, as a dictionary read in another order than it was written needs.
    @exclusivity(unchecked) var entries: [(keyStart: Int, keyLength: Int, value: Int)]?
    /// The entry after the last one found in `entries`.
    @exclusivity(unchecked) var entryHint = 0
    /// A hash table over `entries` (entry index + 1, 0 for empty), made when lookups in a large
    /// container jump around, so that each costs O(1) instead of a walk.
    @exclusivity(unchecked) var entryTable: [Int]?
    /// The state's list of spare decoders.
    @exclusivity(unchecked) var nextFree: BinaryValueDecoder?
    /// The parent node of the paths of this value's children, made once when first needed.
    @exclusivity(unchecked) private var childParent: PathNode?
    @exclusivity(unchecked) private var hasChildParent = false

    init(state: DecodingState, offset: Int, path: CodingPath, depth: Int) {
        self.state = state
        self.offset = offset
        self.path = path
        self.depth = depth
    }

    @inline(__always) func reset(offset: Int, path: CodingPath, depth: Int) {
        self.offset = offset
        self.path = path
        self.depth = depth
        lastKey = -1
        lastValue = -1
        nextEntry = -1
        if entries != nil {
            entries = nil
            entryTable = nil
        }
        entryHint = 0
        if hasChildParent {
            childParent = nil
            hasChildParent = false
        }
    }

    /// The path of this value's child at `key`.
    @inline(__always) func childPath(_ key: some CodingKey) -> CodingPath {
        if !hasChildParent {
            childParent = path.childParent
            hasChildParent = true
        }
        return CodingPath(parent: childParent, last: key)
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(try BinaryKeyedDecodingContainer<Key>(self))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try BinaryUnkeyedDecodingContainer(state: state, offset: offset, path: path, depth: depth)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        BinarySingleValueDecodingContainer(decoder: self)
    }
}

/// Reads one scalar at an offset, checking its tag; shared by all three container kinds.
extension DecodingState {
    // The expected tag is compared as a byte; anything else goes to `mismatch`, which reports an
    // invalid tag or a type mismatch as before.

    @inline(__always) func readBool(at offset: Int, _ path: @autoclosure () -> [any CodingKey]) throws -> Bool {
        let raw = try byte(at: offset)
        if raw == Tag.trueValue.rawValue { return true }
        if raw == Tag.falseValue.rawValue { return false }
        throw try mismatch("a Bool", at: offset, path())
    }

    @inline(__always) func readString(at offset: Int, _ path: @autoclosure () -> [any CodingKey]) throws -> String {
        guard try byte(at: offset) == Tag.string.rawValue else { throw try mismatch("a String", at: offset, path()) }
        var position = offset + 1
        return try readStringBody(at: &position)
    }

    @inline(__always) func readNumber<T: FixedWidthInteger>(_: T.Type, tag expected: Tag, at offset: Int, _ path: @autoclosure () -> [any CodingKey]) throws -> T {
        guard try byte(at: offset) == expected.rawValue else { throw try mismatch(expected.kindName, at: offset, path()) }
        return try readFixed(T.self, at: offset + 1)
    }

    @inline(__always) func readDouble(at offset: Int, _ path: @autoclosure () -> [any CodingKey]) throws -> Double {
        Double(bitPattern: try readNumber(UInt64.self, tag: .float64, at: offset, path()))
    }

    @inline(__always) func readFloat(at offset: Int, _ path: @autoclosure () -> [any CodingKey]) throws -> Float {
        Float(bitPattern: try readNumber(UInt32.self, tag: .float32, at: offset, path()))
    }

    @inline(__always) func isNil(at offset: Int) throws -> Bool { try rawTag(at: offset) == Tag.null.rawValue }

    /// The error for a value that is not of the expected kind (or not a value at all).
    @inline(never) private func mismatch(_ expected: String, at offset: Int, _ path: [any CodingKey]) throws -> CodingError {
        typeMismatch(expected, found: try tag(at: offset), codingPath: path, offset: offset)
    }
}

struct BinaryKeyedDecodingContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    /// The decoder of the container's value; it holds the container's offset and cursor.
    private let decoder: BinaryValueDecoder
    private var state: DecodingState { decoder.state }
    private var path: CodingPath { decoder.path }
    private var depth: Int { decoder.depth }
    var codingPath: [any CodingKey] { decoder.path.keys }

    /// A container whose entries are found lazily: nothing is read but the tag until a key is
    /// asked for.
    init(_ decoder: BinaryValueDecoder) throws {
        self.decoder = decoder
        let state = decoder.state
        let raw = try state.rawTag(at: decoder.offset)
        guard raw == Tag.keyed.rawValue else {
            throw state.typeMismatch(
                Tag.keyed.kindName, found: Tag(rawValue: raw)!, codingPath: decoder.path.keys, offset: decoder.offset)
        }
    }

    /// A container for a value that has no decoder of its own (nested containers).
    init(state: DecodingState, offset: Int, path: CodingPath, depth: Int) throws {
        try self.init(state.makeDecoder(offset: offset, path: path, depth: depth))
    }

    var allKeys: [Key] {
        guard let entries = try? indexEntries() else { return [] }
        return entries.compactMap { entry in
            let bytes = UnsafeRawBufferPointer(start: state.base + entry.keyStart, count: entry.keyLength)
            return String(validating: bytes, as: UTF8.self).flatMap { Key(stringValue: $0) }
        }
    }

    /// Reads every entry's key and value offset, once.
    private func indexEntries() throws -> [(keyStart: Int, keyLength: Int, value: Int)] {
        if let entries = decoder.entries { return entries }
        var entries: [(keyStart: Int, keyLength: Int, value: Int)] = []
        var position = decoder.offset + 1
        while true {
            let marker = try state.byte(at: position)
            position += 1
            if marker == endMarker { break }
            guard marker == entryMarker else { throw state.notAnEntry(marker, at: position - 1, codingPath: codingPath) }
            let keyLength = try state.readLength(at: &position, width: 1, "a key")
            let keyStart = position
            position += keyLength
            entries.append((keyStart, keyLength, position))
            position = try state.skipValue(at: position, depth: depth + 1)
        }
        state.endHint = (decoder.offset, position)
        decoder.entries = entries
        return entries
    }

    /// Where the value of `key` starts, or nil.
    @inline(__always) private func find(_ key: some CodingKey) throws -> Int? {
        var name = key.stringValue
        return try name.withUTF8 { try find(utf8: $0) }
    }

    private func find(utf8 key: UnsafeBufferPointer<UInt8>) throws -> Int? {
        let decoder = decoder
        let state = decoder.state
        if decoder.entries != nil { return try findIndexed(key) }
        var start = decoder.offset + 1
        if decoder.lastKey >= 0 {
            // The same key again (decodeIfPresent asks contains, decodeNil, then decode)?
            var position = decoder.lastKey
            let length = try state.readLength(at: &position, width: 1, "a key")
            if state.keyEquals(key, start: position, length: length) { return decoder.lastValue }
            if decoder.nextEntry < 0 { decoder.nextEntry = try state.valueEnd(decoder.lastValue, depth: depth + 1) }
            start = decoder.nextEntry
        }
        // Walk from the entry after the last hit to the end, then from the first entry back to
        // where the walk began. Far walks switch to an index, so that many lookups in another
        // order than the stored one stay cheap.
        var position = start
        var wrapped = false
        var walked = 0
        while true {
            if wrapped && position == start { return nil }
            let marker = try state.byte(at: position)
            if marker == endMarker {
                if start == decoder.offset + 1 { return nil }
                wrapped = true
                position = decoder.offset + 1
                continue
            }
            guard marker == entryMarker else { throw state.notAnEntry(marker, at: position, codingPath: codingPath) }
            let keyStart = position + 1
            var valueStart = keyStart
            let keyLength = try state.readLength(at: &valueStart, width: 1, "a key")
            valueStart += keyLength
            if state.keyEquals(key, start: valueStart - keyLength, length: keyLength) {
                found(keyStart: keyStart, value: valueStart, decoder: decoder, state: state)
                return valueStart
            }
            walked += 1
            if walked > 8 { return try findIndexed(key) }
            position = try state.valueEnd(valueStart, depth: depth + 1)
        }
    }

    /// Records a hit as the cursor; the end of a scalar value is found at once (it costs one
    /// tag read), and the end of the container noted when it follows.
    @inline(__always) private func found(keyStart: Int, value: Int, decoder: BinaryValueDecoder, state: DecodingState) {
        decoder.lastKey = keyStart
        decoder.lastValue = value
        decoder.nextEntry = -1
        guard let raw = try? state.byte(at: value), raw < Tag.keyed.rawValue,
            let end = try? state.skipValue(at: value, depth: depth + 1)
        else { return }
        decoder.nextEntry = end
        if (try? state.byte(at: end)) == endMarker { state.endHint = (decoder.offset, end + 1) }
    }

    private func findIndexed(_ key: UnsafeBufferPointer<UInt8>) throws -> Int? {
        let entries = try indexEntries()
        let count = entries.count
        // The last hit (the same key again), then the entry after it (keys in stored order).
        let hint = decoder.entryHint
        for index in max(hint - 1, 0)..<min(hint + 1, count) {
            if state.keyEquals(key, start: entries[index].keyStart, length: entries[index].keyLength) {
                decoder.entryHint = index + 1
                return entries[index].value
            }
        }
        if count <= 16 {
            for index in 0..<count where state.keyEquals(key, start: entries[index].keyStart, length: entries[index].keyLength) {
                decoder.entryHint = index + 1
                return entries[index].value
            }
            return nil
        }
        let table = decoder.entryTable ?? makeEntryTable(entries)
        let mask = table.count - 1
        var slot = keyHash(UnsafeRawBufferPointer(key)) & mask
        while table[slot] != 0 {
            let index = table[slot] - 1
            if state.keyEquals(key, start: entries[index].keyStart, length: entries[index].keyLength) {
                decoder.entryHint = index + 1
                return entries[index].value
            }
            slot = (slot + 1) & mask
        }
        return nil
    }

    /// An open-addressing table of the entries by key, at most half full.
    private func makeEntryTable(_ entries: [(keyStart: Int, keyLength: Int, value: Int)]) -> [Int] {
        var size = 1
        while size < entries.count * 2 { size <<= 1 }
        var table = [Int](repeating: 0, count: size)
        let mask = size - 1
        for (index, entry) in entries.enumerated() {
            var slot = keyHash(UnsafeRawBufferPointer(start: state.base + entry.keyStart, count: entry.keyLength)) & mask
            while table[slot] != 0 { slot = (slot + 1) & mask }
            table[slot] = index + 1
        }
        decoder.entryTable = table
        return table
    }

    private func keyHash(_ bytes: UnsafeRawBufferPointer) -> Int {
        var hasher = Hasher()
        hasher.combine(bytes: bytes)
        return hasher.finalize()
    }

    @inline(__always) private func value(_ key: Key) throws -> Int {
        guard let offset = try find(key) else { throw keyNotFound(key) }
        return offset
    }

    @inline(never) private func keyNotFound(_ key: Key) -> CodingError {
        CodingError(.keyNotFound, "no value for key '\(key.stringValue)'", codingPath: path.appending(key).keys)
    }

    func contains(_ key: Key) -> Bool { ((try? find(key)) ?? nil) != nil }

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
        let offset = try value(key)
        return try state.decodeValue(T.self, at: offset, path: decoder.childPath(key), depth: depth + 1)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        let offset = try value(key)
        return KeyedDecodingContainer(
            try BinaryKeyedDecodingContainer<NestedKey>(state: state, offset: offset, path: decoder.childPath(key), depth: depth + 1))
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        let offset = try value(key)
        return try BinaryUnkeyedDecodingContainer(state: state, offset: offset, path: decoder.childPath(key), depth: depth + 1)
    }

    func superDecoder() throws -> any Decoder { try superDecoder(for: NameKey("super")) }

    func superDecoder(forKey key: Key) throws -> any Decoder { try superDecoder(for: key) }

    private func superDecoder(for key: some CodingKey) throws -> any Decoder {
        guard let offset = try find(key) else {
            throw CodingError(.keyNotFound, "no value for key '\(key.stringValue)'", codingPath: path.appending(key).keys)
        }
        return state.makeDecoder(offset: offset, path: decoder.childPath(key), depth: depth + 1)
    }
}

/// Reads an unkeyed container element by element; also reads a bulk array that way, so a type
/// whose `init(from:)` loops over numbers can decode what `[Double]` encoded in bulk.
struct BinaryUnkeyedDecodingContainer: UnkeyedDecodingContainer {
    let state: DecodingState
    /// Where the container starts (its tag).
    private let offset: Int
    let path: CodingPath
    var codingPath: [any CodingKey] { path.keys }
    let depth: Int
    private(set) var currentIndex = 0
    /// The marker of the next element, when `pending` is -1.
    private var position: Int
    /// Where the element handed out last starts, while its end is not known: it is found when the
    /// next element is needed, from ``DecodingState/endHint`` if the element's own container
    /// recorded it, so that elements are not walked once to find their end and again to decode.
    private var pending = -1
    /// The parent node of the elements' paths, made once when first needed.
    private var elementParent: PathNode?
    private var hasElementParent = false
    /// Set when reading a bulk array: its element type, element count and first byte.
    private let bulk: (elementType: BulkElementType, count: Int, bytes: UnsafeRawBufferPointer, owner: AnyObject?)?

    init(state: DecodingState, offset: Int, path: CodingPath, depth: Int) throws {
        self.state = state
        self.offset = offset
        self.path = path
        self.depth = depth
        let found = try state.tag(at: offset)
        switch found {
        case .unkeyed:
            position = offset + 1
            bulk = nil
        case .bulk, .bulkSection:
            let elementType = try state.readElementType(at: offset + 1)
            let (bytes, count, owner, _) = try state.bulkBytes(at: offset, expecting: elementType, codingPath: path.keys)
            position = 0
            bulk = (elementType, count, bytes, owner)
        default:
            throw state.typeMismatch(Tag.unkeyed.kindName, found: found, codingPath: path.keys, offset: offset)
        }
    }

    var count: Int? { bulk?.count }

    var isAtEnd: Bool {
        if let bulk { return currentIndex >= bulk.count }
        guard let next = try? nextMarker() else { return true }
        return (try? state.byte(at: next)) != entryMarker
    }

    /// Where the next element's marker is, resolving the end of the pending element.
    @inline(__always) private func nextMarker() throws -> Int {
        var next = position
        if pending >= 0 {
            next = try state.valueEnd(pending, depth: depth + 1)
            // isAtEnd asks before every decode: let the decode find it again for free.
            state.endHint = (pending, next)
        }
        if (try? state.byte(at: next)) == endMarker { state.endHint = (offset, next + 1) }
        return next
    }

    /// The path of the element about to be read.
    private var elementPath: CodingPath { path.appending(IndexKey(currentIndex)) }

    private mutating func sharedElementPath() -> CodingPath {
        if !hasElementParent {
            elementParent = path.childParent
            hasElementParent = true
        }
        return CodingPath(parent: elementParent, index: currentIndex)
    }

    /// Moves to the next element and returns where it starts.
    private mutating func next() throws -> Int {
        position = try nextMarker()
        pending = -1
        let marker = try state.byte(at: position)
        guard marker == entryMarker else {
            throw CodingError(.keyNotFound, "the array has no element \(currentIndex)", codingPath: elementPath.keys, offset: position)
        }
        let start = position + 1
        if try state.byte(at: start) < Tag.keyed.rawValue {
            position = try state.skipValue(at: start, depth: depth + 1)  // a scalar: one tag read
        } else {
            pending = start
        }
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

    @inline(__always) private mutating func scalar<T: BulkCodable>(
        _ type: T.Type, _ read: (DecodingState, Int, @autoclosure () -> [any CodingKey]) throws -> T
    ) throws -> T {
        if bulk != nil { return try nextBulk(T.self) }
        let index = currentIndex
        return try read(state, try next(), path.appending(IndexKey(index)).keys)
    }

    mutating func decodeNil() throws -> Bool {
        if bulk != nil { return false }
        position = try nextMarker()
        pending = -1
        guard try state.byte(at: position) == entryMarker, try state.isNil(at: position + 1) else { return false }
        _ = try next()
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool {
        if bulk != nil { throw CodingError(.typeMismatch, "expected a Bool, found a numeric array", codingPath: elementPath.keys) }
        let index = currentIndex
        return try state.readBool(at: try next(), path.appending(IndexKey(index)).keys)
    }

    mutating func decode(_ type: String.Type) throws -> String {
        if bulk != nil { throw CodingError(.typeMismatch, "expected a String, found a numeric array", codingPath: elementPath.keys) }
        let index = currentIndex
        return try state.readString(at: try next(), path.appending(IndexKey(index)).keys)
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
        let elementPath = sharedElementPath()
        let start = try next()
        return try state.decodeValue(T.self, at: start, path: elementPath, depth: depth + 1)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let elementPath = sharedElementPath()
        return KeyedDecodingContainer(try BinaryKeyedDecodingContainer<NestedKey>(state: state, offset: try next(), path: elementPath, depth: depth + 1))
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let elementPath = sharedElementPath()
        return try BinaryUnkeyedDecodingContainer(state: state, offset: try next(), path: elementPath, depth: depth + 1)
    }

    mutating func superDecoder() throws -> any Decoder {
        let elementPath = sharedElementPath()
        return state.makeDecoder(offset: try next(), path: elementPath, depth: depth + 1)
    }
}

/// Holds the value's decoder only, so that it fits in an existential without allocating.
struct BinarySingleValueDecodingContainer: SingleValueDecodingContainer {
    let decoder: BinaryValueDecoder
    private var state: DecodingState { decoder.state }
    private var offset: Int { decoder.offset }
    var codingPath: [any CodingKey] { decoder.path.keys }

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
        try state.decodeValue(T.self, at: offset, path: decoder.path, depth: decoder.depth + 1)
    }
}
