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
