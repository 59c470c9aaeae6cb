#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import JoblibCoding

/// Turns `Encodable` values into plain ``PythonValue``s for Python: structs and dictionaries
/// become dicts, numeric arrays and `NDArray`s numpy arrays, other sequences lists, `Data` bytes,
/// nil `None` (also for optional fields, which Swift's synthesized code would leave out).
package enum PythonEncoding {
    /// The plain data for `value`.
    ///
    /// - Throws: ``PickleError`` `notPlainData` for a value that encodes nothing, or whatever
    ///   the value's own `encode(to:)` throws.
    package static func encode(_ value: some Encodable) throws -> PythonValue {
        try box(value, path: [])
    }

    static func box<T: Encodable>(_ value: T, path: [any CodingKey]) throws -> PythonValue {
        if let python = value as? PythonValue { return python }
        if let array = value as? any NumpyArrayConvertible { return .array(array.numpyArray) }
        if let data = value as? Data { return .bytes([UInt8](data)) }
        if let bulk = value as? any BulkArrayCodable, type(of: bulk).hasBulkLayout {
            let dtype = NumpyDType(type(of: bulk).bulkElementType)
            let buffer = bulk.withBulkBytes { NumpyBuffer(copying: $0) }
            return .array(NumpyArray(dtype: dtype, shape: [bulk.bulkCount], buffer: buffer))
        }
        let encoder = PythonValueEncoder(path: path)
        try value.encode(to: encoder)
        guard let result = encoder.slot.result else {
            throw PickleError(.notPlainData, "\(T.self) at \(DecodingContext.describe(path)) encodes nothing")
        }
        return result
    }
}

/// Where an encoder or container puts what it produces; containers fill theirs in place.
final class EncodingSlot {
    enum Content {
        case value(PythonValue)
        case list([EncodingSlot])
        case dict([(PythonValue, EncodingSlot)])
    }
    var content: Content?

    var result: PythonValue? {
        switch content {
        case nil: nil
        case .value(let value)?: value
        case .list(let items)?: .list(items.map { $0.result ?? .none })
        case .dict(let entries)?: .dict(entries.map { PythonDictEntry(key: $0.0, value: $0.1.result ?? .none) })
        }
    }
}

struct PythonValueEncoder: Encoder {
    let codingPath: [any CodingKey]
    let slot = EncodingSlot()
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(path: [any CodingKey]) { codingPath = path }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .dict? = slot.content {} else { slot.content = .dict([]) }
        return KeyedEncodingContainer(PythonKeyedEncoder<Key>(slot: slot, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if case .list? = slot.content {} else { slot.content = .list([]) }
        return PythonUnkeyedEncoder(slot: slot, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        PythonSingleValueEncoder(slot: slot, codingPath: codingPath)
    }
}

/// Plain numbers: integers that do not fit `Int` become big integers.
private func number<T: BinaryInteger>(_ value: T) -> PythonValue {
    if let small = Int(exactly: value) { return .int(small) }
    return .bigInt(PythonBigInt(UInt64(value)))
}

private func key(_ key: some CodingKey) -> PythonValue {
    // Dictionary<Int, _> keys stay integers; everything else is a string key.
    if let number = key.intValue, key.stringValue == String(number) { return .int(number) }
    return .string(key.stringValue)
}

struct PythonKeyedEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let slot: EncodingSlot
    let codingPath: [any CodingKey]

    private func put(_ value: PythonValue, _ forKey: Key) {
        let child = EncodingSlot()
        child.content = .value(value)
        put(child, forKey)
    }

    private func put(_ child: EncodingSlot, _ forKey: Key) {
        guard case .dict(var entries)? = slot.content else { return }
        slot.content = nil
        // A key encoded twice appears twice; Python keeps the last, as a decoder here does.
        entries.append((key(forKey), child))
        slot.content = .dict(entries)
    }

    mutating func encodeNil(forKey key: Key) throws { put(.none, key) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { put(.bool(value), key) }
    mutating func encode(_ value: String, forKey key: Key) throws { put(.string(value), key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { put(.float(value), key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { put(.float(Double(value)), key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { put(.int(value), key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { put(number(value), key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { put(number(value), key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { put(number(value), key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { put(number(value), key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { put(number(value), key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { put(number(value), key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { put(number(value), key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { put(number(value), key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { put(number(value), key) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        put(try PythonEncoding.box(value, path: codingPath + [key]), key)
    }

    // Optional fields: None rather than a missing key, so that Python sees every field.
    mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws { put(value.map { .bool($0) } ?? .none, key) }
    mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws { put(value.map { .string($0) } ?? .none, key) }
    mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws { put(value.map { .float($0) } ?? .none, key) }
    mutating func encodeIfPresent(_ value: Float?, forKey key: Key) throws { put(value.map { .float(Double($0)) } ?? .none, key) }
    mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws { put(value.map { .int($0) } ?? .none, key) }
    mutating func encodeIfPresent(_ value: Int8?, forKey key: Key) throws { put(value.map(number) ?? .none, key) }
    mutating func encodeIfPresent(_ value: Int16?, forKey key: Key) throws { put(value.map(number) ?? .none, key) }
    mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) throws { put(value.map(number) ?? .none, key) }
    mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws { put(value.map(number) ?? .none, key) }
    mutating func encodeIfPresent(_ value: UInt?, forKey key: Key) throws { put(value.map(number) ?? .none, key) }
    mutating func encodeIfPresent(_ value: UInt8?, forKey key: Key) throws { put(value.map(number) ?? .none, key) }
    mutating func encodeIfPresent(_ value: UInt16?, forKey key: Key) throws { put(value.map(number) ?? .none, key) }
    mutating func encodeIfPresent(_ value: UInt32?, forKey key: Key) throws { put(value.map(number) ?? .none, key) }
    mutating func encodeIfPresent(_ value: UInt64?, forKey key: Key) throws { put(value.map(number) ?? .none, key) }
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else { put(.none, key) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let child = EncodingSlot()
        child.content = .dict([])
        put(child, key)
        return KeyedEncodingContainer(PythonKeyedEncoder<NestedKey>(slot: child, codingPath: codingPath + [key]))
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let child = EncodingSlot()
        child.content = .list([])
        put(child, key)
        return PythonUnkeyedEncoder(slot: child, codingPath: codingPath + [key])
    }
    mutating func superEncoder() -> any Encoder { superEncoder(forKey: Key(stringValue: "super")!) }
    mutating func superEncoder(forKey key: Key) -> any Encoder {
        let encoder = PythonValueEncoder(path: codingPath + [key])
        put(encoder.slot, key)
        return encoder
    }
}

struct PythonUnkeyedEncoder: UnkeyedEncodingContainer {
    let slot: EncodingSlot
    let codingPath: [any CodingKey]

    var count: Int {
        if case .list(let items)? = slot.content { return items.count }
        return 0
    }

    private func append(_ child: EncodingSlot) {
        guard case .list(var items)? = slot.content else { return }
        slot.content = nil
        items.append(child)
        slot.content = .list(items)
    }

    private func append(_ value: PythonValue) {
        let child = EncodingSlot()
        child.content = .value(value)
        append(child)
    }

    mutating func encodeNil() throws { append(.none) }
    mutating func encode(_ value: Bool) throws { append(.bool(value)) }
    mutating func encode(_ value: String) throws { append(.string(value)) }
    mutating func encode(_ value: Double) throws { append(.float(value)) }
    mutating func encode(_ value: Float) throws { append(.float(Double(value))) }
    mutating func encode(_ value: Int) throws { append(.int(value)) }
    mutating func encode(_ value: Int8) throws { append(number(value)) }
    mutating func encode(_ value: Int16) throws { append(number(value)) }
    mutating func encode(_ value: Int32) throws { append(number(value)) }
    mutating func encode(_ value: Int64) throws { append(number(value)) }
    mutating func encode(_ value: UInt) throws { append(number(value)) }
    mutating func encode(_ value: UInt8) throws { append(number(value)) }
    mutating func encode(_ value: UInt16) throws { append(number(value)) }
    mutating func encode(_ value: UInt32) throws { append(number(value)) }
    mutating func encode(_ value: UInt64) throws { append(number(value)) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        append(try PythonEncoding.box(value, path: codingPath + [PythonKey(intValue: count)]))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let child = EncodingSlot()
        child.content = .dict([])
        let path = codingPath + [PythonKey(intValue: count)]
        append(child)
        return KeyedEncodingContainer(PythonKeyedEncoder<NestedKey>(slot: child, codingPath: path))
    }
    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let child = EncodingSlot()
        child.content = .list([])
        let path = codingPath + [PythonKey(intValue: count)]
        append(child)
        return PythonUnkeyedEncoder(slot: child, codingPath: path)
    }
    mutating func superEncoder() -> any Encoder {
        let encoder = PythonValueEncoder(path: codingPath + [PythonKey(intValue: count)])
        append(encoder.slot)
        return encoder
    }
}

struct PythonSingleValueEncoder: SingleValueEncodingContainer {
    let slot: EncodingSlot
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws { slot.content = .value(.none) }
    mutating func encode(_ value: Bool) throws { slot.content = .value(.bool(value)) }
    mutating func encode(_ value: String) throws { slot.content = .value(.string(value)) }
    mutating func encode(_ value: Double) throws { slot.content = .value(.float(value)) }
    mutating func encode(_ value: Float) throws { slot.content = .value(.float(Double(value))) }
    mutating func encode(_ value: Int) throws { slot.content = .value(.int(value)) }
    mutating func encode(_ value: Int8) throws { slot.content = .value(number(value)) }
    mutating func encode(_ value: Int16) throws { slot.content = .value(number(value)) }
    mutating func encode(_ value: Int32) throws { slot.content = .value(number(value)) }
    mutating func encode(_ value: Int64) throws { slot.content = .value(number(value)) }
    mutating func encode(_ value: UInt) throws { slot.content = .value(number(value)) }
    mutating func encode(_ value: UInt8) throws { slot.content = .value(number(value)) }
    mutating func encode(_ value: UInt16) throws { slot.content = .value(number(value)) }
    mutating func encode(_ value: UInt32) throws { slot.content = .value(number(value)) }
    mutating func encode(_ value: UInt64) throws { slot.content = .value(number(value)) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        slot.content = .value(try PythonEncoding.box(value, path: codingPath))
    }
}
