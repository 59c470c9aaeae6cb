import JoblibCoding
import Synchronization

/// The arguments of one call, with ignored ones left out, as the value whose hash is the key.
struct CallKey: Encodable {
    var function: String
    var version: Int
    var arguments: [any Encodable]
    var ignoredFields: Set<String>
    /// Receives the ignored field names that some argument actually had.
    var seenFields: FieldRecorder?

    func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(function)
        try container.encode(version)
        for argument in arguments {
            if ignoredFields.isEmpty {
                // The argument's own type reaches the encoder, so arrays keep their bulk path.
                try Self.encode(argument, into: &container)
            } else {
                try container.encode(FieldFilter(value: argument, ignored: ignoredFields, seen: seenFields))
            }
        }
    }
}

extension CallKey {
    /// Encodes one argument; `Int`, `Double`, `String` and `Bool` through the container's own
    /// methods. That writes the same bytes as the generic `encode(_:)` (which reaches the same
    /// scalar through the value's single-value container) without a nested encoder per argument.
    /// The type is compared by metadata, not cast (a dynamic cast costs what it would save).
    private static func encode<Value: Encodable>(_ value: Value, into container: inout any UnkeyedEncodingContainer) throws {
        if Value.self == Int.self {
            try container.encode(unsafeBitCast(value, to: Int.self))
        } else if Value.self == Double.self {
            try container.encode(unsafeBitCast(value, to: Double.self))
        } else if Value.self == String.self {
            try container.encode(unsafeBitCast(value, to: String.self))
        } else if Value.self == Bool.self {
            try container.encode(unsafeBitCast(value, to: Bool.self))
        } else {
            try container.encode(value)
        }
    }
}

/// Collects which ignored field names were met while encoding.
final class FieldRecorder: Sendable {
    private let names = Mutex<Set<String>>([])
    func record(_ name: String) { names.withLock { _ = $0.insert(name) } }
    var seen: Set<String> { names.withLock { $0 } }
}

/// Encodes `value` with the top-level keys in `ignored` left out.
///
/// Only the value's own top-level keyed container is filtered; nested values are handed to the
/// underlying encoder unchanged (their types intact, so bulk arrays stay fast).
struct FieldFilter: Encodable {
    var value: any Encodable
    var ignored: Set<String>
    var seen: FieldRecorder?

    func encode(to encoder: any Encoder) throws {
        try value.encode(to: FilteringEncoder(base: encoder, ignored: ignored, seen: seen))
    }
}

private struct FilteringEncoder: Encoder {
    var base: any Encoder
    var ignored: Set<String>
    var seen: FieldRecorder?
    var codingPath: [any CodingKey] { base.codingPath }
    var userInfo: [CodingUserInfoKey: Any] { base.userInfo }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(FilteringKeyedContainer(base: base.container(keyedBy: Key.self), ignored: ignored, seen: seen))
    }
    func unkeyedContainer() -> any UnkeyedEncodingContainer { base.unkeyedContainer() }
    func singleValueContainer() -> any SingleValueEncodingContainer { base.singleValueContainer() }
}

private struct FilteringKeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    var base: KeyedEncodingContainer<Key>
    var ignored: Set<String>
    var seen: FieldRecorder?
    var codingPath: [any CodingKey] { base.codingPath }

    private func skips(_ key: Key) -> Bool {
        guard ignored.contains(key.stringValue) else { return false }
        seen?.record(key.stringValue)
        return true
    }

    mutating func encodeNil(forKey key: Key) throws { if !skips(key) { try base.encodeNil(forKey: key) } }
    mutating func encode(_ value: Bool, forKey key: Key) throws { if !skips(key) { try base.encode(value, forKey: key) } }
    mutating func encode(_ value: String, forKey key: Key) throws { if !skips(key) { try base.encode(value, forKey: key) } }
    mutating func encode(_ value: Double, forKey key: Key) throws { if !skips(key) { try base.encode(value, forKey: key) } }
    mutating func encode(_ value: Float, forKey key: Key) throws { if !skips(key) { try base.encode(value, forKey: key) } }
    mutating func encode(_ value: Int, forKey key: Key) throws { if !skips(key) { try base.encode(value, forKey: key) } }
    mutating func encode(_ value: Int8, forKey key: Key) throws { if !skips(key) { try base.encode(value, forKey: key) } }
    mutating func encode(_ value: Int16, forKey key: Key) throws { if !skips(key) { try base.encode(value, forKey: key) } }
    mutating func encode(_ value: Int32, forKey key: Key) throws { if !skips(key) { try base.encode(value, forKey: key) } }
    mutating func encode(_ value: Int64, forKey key: Key) throws { if !skips(key) { try base.encode(value, forKey: key) } }
    mutating func encode(_ value: UInt, forKey key: Key) throws { if !skips(key) { try base.encode(value, forKey: key) } }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { if !skips(key) { try base.encode(value, forKey: key) } }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { if !skips(key) { try base.encode(value, forKey: key) } }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { if !skips(key) { try base.encode(value, forKey: key) } }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { if !skips(key) { try base.encode(value, forKey: key) } }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { if !skips(key) { try base.encode(value, forKey: key) } }
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws {
        if !skips(key) { try base.encodeIfPresent(value, forKey: key) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        // Not filtered: a field written through a nested container is kept in the key. Synthesized
        // conformances never do this (they call encode(_:forKey:)); documented in CacheLayout.md.
        base.nestedContainer(keyedBy: NestedKey.self, forKey: key)
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer { base.nestedUnkeyedContainer(forKey: key) }
    mutating func superEncoder() -> any Encoder { base.superEncoder() }
    mutating func superEncoder(forKey key: Key) -> any Encoder { base.superEncoder(forKey: key) }
}
