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
