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
