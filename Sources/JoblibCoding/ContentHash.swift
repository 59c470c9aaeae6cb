/// A 128-bit content digest (XXH3-128), as returned by ``hashDigest(_:)``.
public struct HashDigest: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The high 64 bits.
    public var high: UInt64
    /// The low 64 bits.
    public var low: UInt64

    /// A digest from its two halves.
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// 32 lowercase hex digits, high half first (XXH128's canonical big-endian form).
    public var hexString: String {
        func hex(_ value: UInt64) -> String {
            let digits = String(value, radix: 16)
            return String(repeating: "0", count: 16 - digits.count) + digits
        }
        return hex(high) + hex(low)
    }

    /// The 16 bytes, high half first, big-endian.
    public var bytes: [UInt8] {
        withUnsafeBytes(of: high.bigEndian) { Array($0) } + withUnsafeBytes(of: low.bigEndian) { Array($0) }
    }

    /// The digest as 32 hex digits (``hexString``).
    public var description: String { hexString }
}

/// The version of the hashing scheme, mixed into every digest. Bump it when the canonical
/// encoding changes, so that old cache entries are never mistaken for new ones.
package let hashSchemeVersion: UInt8 = 1

/// A stable content hash of `value`, as 32 hex digits.
///
/// Equal values give equal digests in every process and run, and on every machine of the same
/// endianness: the digest is XXH3-128 over a canonical encoding in which every value carries a
/// type tag and its length, and dictionary and set entries are sorted by their encoded bytes (so
/// insertion order and Swift's per-process hash seeds do not matter). Different types and orders
/// give different digests: `[1, 2]` and `[2, 1]`, `Int32(1)` and `Int64(1)`, `"a"` and `["a"]`.
/// Arrays of ``BulkCodable`` numbers are hashed as their raw bytes at memory speed.
///
/// ```swift
/// let key = try hash(["b": 2, "a": 1])   // same as try hash(["a": 1, "b": 2])
/// ```
/// - Throws: any error the value's `Encodable` conformance throws, or ``CodingError``.
public func hash<T: Encodable>(_ value: T) throws -> String {
    try hashDigest(value).hexString
}

/// The 128-bit form of ``hash(_:)``.
public func hashDigest<T: Encodable>(_ value: T) throws -> HashDigest {
    let state = HashingStatePool.shared.take()
    var succeeded = false
    defer { HashingStatePool.shared.give(state, reusable: succeeded) }
    state.append(0x4A)  // "J", then the scheme version: a digest of ours is never another's
    state.append(hashSchemeVersion)
    try state.encodeValue(value, path: .root)
    let digest = state.finishHashing()
    succeeded = true
    return digest
}

/// The digest ``hashDigest(_:)`` gives an unkeyed container (an array) holding `name`, `version`
/// and then `arguments`, in order — when every argument is an `Int`, `Double`, `String` or
/// `Bool`; nil otherwise (hash the value through `Encodable` then). The cache key of a call with
/// small scalar arguments: the same bytes are written straight into a hashing state, without an
/// encoder, a boxed container or a dynamic cast per argument.
package func hashDigestOfScalarList(_ name: String, _ version: Int, _ arguments: [any Encodable]) -> HashDigest? {
    for argument in arguments where !isHashableScalar(argument) { return nil }
    let state = HashingStatePool.shared.take()
    state.append(0x4A)
    state.append(hashSchemeVersion)
    // What `encodeValue` writes for such a container: its tag, one entry per element, the end.
    state.append(.unkeyed)
    state.append(entryMarker)
    state.writeScalar(name)
    state.append(entryMarker)
    state.writeScalar(version)
    for argument in arguments {
        state.append(entryMarker)
        writeHashableScalar(argument, into: state)
    }
    state.append(endMarker)
    let digest = state.finishHashing()
    HashingStatePool.shared.give(state, reusable: true)
    return digest
}

/// Whether `value` is one of the scalars ``hashDigestOfScalarList(_:_:_:)`` writes itself
/// (compared by type metadata: the existential is opened, not cast).
private func isHashableScalar<Value: Encodable>(_ value: Value) -> Bool {
    Value.self == Int.self || Value.self == Double.self || Value.self == Bool.self || Value.self == String.self
}

/// Writes a value that ``isHashableScalar(_:)`` accepted, as its single-value container would.
private func writeHashableScalar<Value: Encodable>(_ value: Value, into state: EncodingState) {
    if Value.self == Int.self {
        state.writeScalar(unsafeBitCast(value, to: Int.self))
    } else if Value.self == Double.self {
        state.writeScalar(unsafeBitCast(value, to: Double.self))
    } else if Value.self == String.self {
        state.writeScalar(unsafeBitCast(value, to: String.self))
    } else {
        state.writeScalar(unsafeBitCast(value, to: Bool.self))
    }
}
