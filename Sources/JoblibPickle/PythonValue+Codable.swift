extension PythonValue: Codable {
    /// Decodes plain data from a self-describing decoder (JSON, for example): nil, a bool, an
    /// integer, a float, a string, a list or a dict with string keys. `load` of a Python file
    /// gives the value as read instead, with its arrays, tuples and objects.
    ///
    /// - Throws: `DecodingError.dataCorrupted` when the data is none of these.
    public init(from decoder: any Decoder) throws {
        if let decoder = decoder as? PythonValueDecoder {
            self = decoder.value
            return
        }
        if let single = try? decoder.singleValueContainer() {
            if single.decodeNil() { self = .none; return }
            if let flag = try? single.decode(Bool.self) { self = .bool(flag); return }
            if let number = try? single.decode(Int.self) { self = .int(number); return }
            if let number = try? single.decode(Double.self) { self = .float(number); return }
            if let text = try? single.decode(String.self) { self = .string(text); return }
        }
        if var unkeyed = try? decoder.unkeyedContainer() {
            var items: [PythonValue] = []
            while !unkeyed.isAtEnd { items.append(try unkeyed.decode(PythonValue.self)) }
            self = .list(items)
            return
        }
        if let keyed = try? decoder.container(keyedBy: PythonKey.self) {
            self = .dict(try keyed.allKeys.map { PythonDictEntry(key: .string($0.stringValue), value: try keyed.decode(PythonValue.self, forKey: $0)) })
            return
        }
        throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a plain-data value"))
    }

    /// Encodes plain data: `dump(_:to:format: .pythonJoblib)` writes the value exactly (tuples,
    /// arrays, sets…); other encoders get None as nil, numbers, strings, sequences as arrays, dicts
    /// with their keys as strings, and numpy arrays as nested arrays of numbers.
    ///
    /// - Throws: `EncodingError.invalidValue` for objects and globals, which are not plain data.
    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .none:
            var single = encoder.singleValueContainer()
            try single.encodeNil()
        case .bool(let flag):
            var single = encoder.singleValueContainer()
            try single.encode(flag)
        case .int(let number):
            var single = encoder.singleValueContainer()
            try single.encode(number)
        case .float(let number):
            var single = encoder.singleValueContainer()
            try single.encode(number)
        case .bigInt(let number):
            var single = encoder.singleValueContainer()
            try single.encode(number.description)
        case .string(let text):
            var single = encoder.singleValueContainer()
            try single.encode(text)
        case .complex(let real, let imaginary):
            var unkeyed = encoder.unkeyedContainer()
            try unkeyed.encode(real)
            try unkeyed.encode(imaginary)
        case .bytes(let bytes), .byteArray(let bytes):
            var unkeyed = encoder.unkeyedContainer()
            for byte in bytes { try unkeyed.encode(byte) }
        case .list(let items), .tuple(let items), .set(let items), .frozenSet(let items):
            var unkeyed = encoder.unkeyedContainer()
            for item in items { try unkeyed.encode(item) }
        case .dict(let entries):
            var keyed = encoder.container(keyedBy: PythonKey.self)
            for entry in entries {
                let key: String
                if case .string(let text) = entry.key { key = text } else { key = entry.key.description }
                try keyed.encode(entry.value, forKey: PythonKey(stringValue: key))
            }
        case .array(let array):
            if array.shape.isEmpty {
                try array.normalized().element(atNormalized: 0).encode(to: encoder)
            } else {
                var unkeyed = encoder.unkeyedContainer()
                let elements = PythonElements(self)!
                for index in 0..<elements.count { try unkeyed.encode(elements.element(index)) }
            }
        case .numpyScalar(let array):
            try array.normalized().element(atNormalized: 0).encode(to: encoder)
        case .dtype(let dtype):
            var single = encoder.singleValueContainer()
            try single.encode(dtype.typeString)
        case .global, .object:
            throw EncodingError.invalidValue(self, .init(codingPath: encoder.codingPath, debugDescription: "\(typeName) is not plain data"))
        }
    }
}
