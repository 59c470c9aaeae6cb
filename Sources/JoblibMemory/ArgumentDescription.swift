#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The readable form of the arguments for `metadata.json` and verbose output: JSON for small
/// values, a short note for large ones (a 100 MB array is hashed, never written out as text).
enum ArgumentDescription {
    /// Values (numbers, strings, nils) an argument may hold and still be written out as JSON.
    static let scalarBudget = 1_000

    /// The JSON object `{"0": …, "1": …}`, with ignored positions left out.
    static func json(_ arguments: [(position: Int, value: any Encodable)]) -> String {
        var parts: [String] = []
        for (position, value) in arguments {
            parts.append("\"\(position)\": \(describe(value))")
        }
        return "{" + parts.joined(separator: ", ") + "}"
    }

    /// One argument as JSON, or a JSON string saying why it is not shown.
    static func describe(_ value: any Encodable) -> String {
        // An argument with ignored fields comes wrapped in their filter: name the argument's type.
        let type: Any.Type = (value as? FieldFilter).map { Swift.type(of: $0.value) } ?? Swift.type(of: value)
        let counter = ValueCounter(budget: scalarBudget)
        do {
            try value.encode(to: counter)
        } catch is ValueCounter.OverBudget {
            return "\"<\(type): more than \(scalarBudget) values, not shown>\""
        } catch {
            return "\"<\(type): not encodable as JSON>\""
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(Wrapped(value: value)), let text = String(data: data, encoding: .utf8) else {
            return "\"<\(type): not encodable as JSON>\""
        }
        return text
    }

    private struct Wrapped: Encodable {
        var value: any Encodable
        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(value)
        }
    }
}

/// An encoder that only counts the values it is given and stops once there are too many.
private final class ValueCounter: Encoder {
    struct OverBudget: Error {}
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] = [:]
    private var remaining: Int

    init(budget: Int) { remaining = budget }

    func count() throws {
        remaining -= 1
        if remaining < 0 { throw OverBudget() }
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(Keyed<Key>(counter: self))
    }
    func unkeyedContainer() -> any UnkeyedEncodingContainer { Unkeyed(counter: self) }
    func singleValueContainer() -> any SingleValueEncodingContainer { Single(counter: self) }

    private struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let counter: ValueCounter
        var codingPath: [any CodingKey] { [] }
        mutating func encodeNil(forKey key: Key) throws { try counter.count() }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { try counter.visit(value) }
        mutating func nestedContainer<N: CodingKey>(keyedBy keyType: N.Type, forKey key: Key) -> KeyedEncodingContainer<N> {
            counter.container(keyedBy: N.self)
        }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer { counter.unkeyedContainer() }
        mutating func superEncoder() -> any Encoder { counter }
        mutating func superEncoder(forKey key: Key) -> any Encoder { counter }
    }

    private struct Unkeyed: UnkeyedEncodingContainer {
        let counter: ValueCounter
        var codingPath: [any CodingKey] { [] }
        var count = 0
        mutating func encodeNil() throws { count += 1; try counter.count() }
        mutating func encode<T: Encodable>(_ value: T) throws { count += 1; try counter.visit(value) }
        mutating func nestedContainer<N: CodingKey>(keyedBy keyType: N.Type) -> KeyedEncodingContainer<N> {
            counter.container(keyedBy: N.self)
        }
        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { counter.unkeyedContainer() }
        mutating func superEncoder() -> any Encoder { counter }
    }

    private struct Single: SingleValueEncodingContainer {
        let counter: ValueCounter
        var codingPath: [any CodingKey] { [] }
        mutating func encodeNil() throws { try counter.count() }
        mutating func encode<T: Encodable>(_ value: T) throws { try counter.visit(value) }
    }

    /// Counts a scalar once, or descends into a composite value.
    func visit<T: Encodable>(_ value: T) throws {
        switch value {
        case is Bool, is String, is Double, is Float, is Int, is Int8, is Int16, is Int32, is Int64,
             is UInt, is UInt8, is UInt16, is UInt32, is UInt64:
            try count()
        default:
            try value.encode(to: self)
        }
    }
}
