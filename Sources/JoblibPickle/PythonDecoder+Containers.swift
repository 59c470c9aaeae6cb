/// A coding key for list positions and dict keys.
struct PythonKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) {
        stringValue = String(intValue)
        self.intValue = intValue
    }
}

/// Fields from a dict's entries or an object's attributes. String keys match by name; integer
/// keys by their decimal text.
struct PythonKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let value: PythonValue
    let codingPath: [any CodingKey]
    let context: DecodingContext
    private let fields: [String: PythonValue]
    private let order: [String]

    init(value: PythonValue, entries: [PythonDictEntry], path: [any CodingKey], context: DecodingContext) {
        self.value = value
        self.codingPath = path
        self.context = context
        var fields: [String: PythonValue] = [:]
        var order: [String] = []
        for entry in entries {
            let name: String
            switch entry.key {
            case .string(let text): name = text
            case .int(let number): name = String(number)
            default: continue
            }
            // Later entries win, as in a Python dict.
            if fields.updateValue(entry.value, forKey: name) == nil { order.append(name) }
        }
        self.fields = fields
        self.order = order
    }

    var allKeys: [Key] { order.compactMap { Key(stringValue: $0) } }

    func contains(_ key: Key) -> Bool { fields[key.stringValue] != nil }

    private func field(_ key: Key) throws -> PythonValue {
        guard let field = fields[key.stringValue] else {
            let owner = DecodingContext.describe(value)
            let known = order.prefix(20).joined(separator: ", ")
            throw PickleError(
                .typeMismatch,
                "at \(DecodingContext.describe(codingPath)): \(owner) has no key '\(key.stringValue)' (it has: \(known)\(order.count > 20 ? ", …" : ""))")
        }
        return field
    }

    private func path(_ key: Key) -> [any CodingKey] { codingPath + [key] }

    func decodeNil(forKey key: Key) throws -> Bool {
        if case .none = try field(key) { return true }
        return false
    }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try context.decodeBool(try field(key), path(key)) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try context.decodeString(try field(key), path(key)) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try context.decodeFloat(type, try field(key), path(key)) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try context.decodeFloat(type, try field(key), path(key)) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try context.decodeInteger(type, try field(key), path(key)) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try context.decodeInteger(type, try field(key), path(key)) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try context.decodeInteger(type, try field(key), path(key)) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try context.decodeInteger(type, try field(key), path(key)) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try context.decodeInteger(type, try field(key), path(key)) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try context.decodeInteger(type, try field(key), path(key)) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try context.decodeInteger(type, try field(key), path(key)) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try context.decodeInteger(type, try field(key), path(key)) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try context.decodeInteger(type, try field(key), path(key)) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try context.decodeInteger(type, try field(key), path(key)) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try context.unbox(type, try field(key), path: path(key)) }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try PythonValueDecoder(value: try field(key), path: path(key), context: context).container(keyedBy: type)
    }
    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try PythonValueDecoder(value: try field(key), path: path(key), context: context).unkeyedContainer()
    }
    func superDecoder() throws -> any Decoder {
        PythonValueDecoder(value: fields["super"] ?? .none, path: codingPath + [PythonKey(stringValue: "super")], context: context)
    }
    func superDecoder(forKey key: Key) throws -> any Decoder {
        PythonValueDecoder(value: try field(key), path: path(key), context: context)
    }
}

/// Elements of a list, tuple, set, bytes or numpy array (along its first axis).
struct PythonUnkeyedContainer: UnkeyedDecodingContainer {
    let elements: PythonElements
    let codingPath: [any CodingKey]
    let context: DecodingContext
    private(set) var currentIndex = 0

    init(elements: PythonElements, path: [any CodingKey], context: DecodingContext) {
        self.elements = elements
        self.codingPath = path
        self.context = context
    }

    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }

    private mutating func next() throws -> (PythonValue, [any CodingKey]) {
        guard !isAtEnd else {
            throw PickleError(.typeMismatch, "at \(DecodingContext.describe(codingPath)): the sequence has only \(elements.count) elements")
        }
        defer { currentIndex += 1 }
        return (elements.element(currentIndex), codingPath + [PythonKey(intValue: currentIndex)])
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { return false }
        if case .none = elements.element(currentIndex) {
            currentIndex += 1
            return true
        }
        return false
    }
    mutating func decode(_ type: Bool.Type) throws -> Bool { let (v, p) = try next(); return try context.decodeBool(v, p) }
    mutating func decode(_ type: String.Type) throws -> String { let (v, p) = try next(); return try context.decodeString(v, p) }
    mutating func decode(_ type: Double.Type) throws -> Double { let (v, p) = try next(); return try context.decodeFloat(type, v, p) }
    mutating func decode(_ type: Float.Type) throws -> Float { let (v, p) = try next(); return try context.decodeFloat(type, v, p) }
    mutating func decode(_ type: Int.Type) throws -> Int { let (v, p) = try next(); return try context.decodeInteger(type, v, p) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { let (v, p) = try next(); return try context.decodeInteger(type, v, p) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { let (v, p) = try next(); return try context.decodeInteger(type, v, p) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { let (v, p) = try next(); return try context.decodeInteger(type, v, p) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { let (v, p) = try next(); return try context.decodeInteger(type, v, p) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { let (v, p) = try next(); return try context.decodeInteger(type, v, p) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { let (v, p) = try next(); return try context.decodeInteger(type, v, p) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { let (v, p) = try next(); return try context.decodeInteger(type, v, p) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { let (v, p) = try next(); return try context.decodeInteger(type, v, p) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { let (v, p) = try next(); return try context.decodeInteger(type, v, p) }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { let (v, p) = try next(); return try context.unbox(type, v, path: p) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let (v, p) = try next()
        return try PythonValueDecoder(value: v, path: p, context: context).container(keyedBy: type)
    }
    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let (v, p) = try next()
        return try PythonValueDecoder(value: v, path: p, context: context).unkeyedContainer()
    }
    mutating func superDecoder() throws -> any Decoder {
        let (v, p) = try next()
        return PythonValueDecoder(value: v, path: p, context: context)
    }
}

/// One value: a number, bool, string or None.
struct PythonSingleValueContainer: SingleValueDecodingContainer {
    let value: PythonValue
    let codingPath: [any CodingKey]
    let context: DecodingContext

    func decodeNil() -> Bool {
        if case .none = value { return true }
        return false
    }
    func decode(_ type: Bool.Type) throws -> Bool { try context.decodeBool(value, codingPath) }
    func decode(_ type: String.Type) throws -> String { try context.decodeString(value, codingPath) }
    func decode(_ type: Double.Type) throws -> Double { try context.decodeFloat(type, value, codingPath) }
    func decode(_ type: Float.Type) throws -> Float { try context.decodeFloat(type, value, codingPath) }
    func decode(_ type: Int.Type) throws -> Int { try context.decodeInteger(type, value, codingPath) }
    func decode(_ type: Int8.Type) throws -> Int8 { try context.decodeInteger(type, value, codingPath) }
    func decode(_ type: Int16.Type) throws -> Int16 { try context.decodeInteger(type, value, codingPath) }
    func decode(_ type: Int32.Type) throws -> Int32 { try context.decodeInteger(type, value, codingPath) }
    func decode(_ type: Int64.Type) throws -> Int64 { try context.decodeInteger(type, value, codingPath) }
    func decode(_ type: UInt.Type) throws -> UInt { try context.decodeInteger(type, value, codingPath) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try context.decodeInteger(type, value, codingPath) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try context.decodeInteger(type, value, codingPath) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try context.decodeInteger(type, value, codingPath) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try context.decodeInteger(type, value, codingPath) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try context.unbox(type, value, path: codingPath) }
}
