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
/// small scalar arguments: the same bytes are written without an encoder, a boxed container or a
/// dynamic cast per argument; when they are few, into a stack buffer hashed in one call.
package func hashDigestOfScalarList(_ name: String, _ version: Int, _ arguments: [any Encodable]) -> HashDigest? {
    // "J", the scheme version, the container's tag and end, and the name and version entries
    // (a varint length is at most 10 bytes).
    var size = 4 + (2 + 10 + name.utf8.count) + (1 + 9)
    for argument in arguments {
        guard let argumentSize = encodedScalarSize(argument) else { return nil }
        size += 1 + argumentSize
    }
    guard size <= 512 else { return hashScalarListPooled(name, version, arguments) }
    return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: size) { buffer in
        var writer = ScalarWriter(base: buffer.baseAddress!)
        writer.append(0x4A)
        writer.append(hashSchemeVersion)
        // What `encodeValue` writes for such a container: its tag, one entry per element, the end.
        writer.append(Tag.unkeyed.rawValue)
        writer.append(entryMarker)
        writer.write(name)
        writer.append(entryMarker)
        writer.write(version)
        for argument in arguments {
            writer.append(entryMarker)
            writer.writeScalar(argument)
        }
        writer.append(endMarker)
        precondition(writer.count <= size, "the scalar key outgrew its computed size")
        return xxh3Digest(UnsafeRawBufferPointer(start: buffer.baseAddress, count: writer.count))
    }
}

/// ``hashDigestOfScalarList(_:_:_:)`` for long names or strings: through the pooled hashing
/// state, which streams what outgrows 64 KiB.
private func hashScalarListPooled(_ name: String, _ version: Int, _ arguments: [any Encodable]) -> HashDigest {
    let state = HashingStatePool.shared.take()
    state.append(0x4A)
    state.append(hashSchemeVersion)
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

/// The most bytes `value` takes encoded when it is one of the scalars
/// ``hashDigestOfScalarList(_:_:_:)`` writes itself, else nil (compared by type metadata: the
/// existential is opened, not cast).
private func encodedScalarSize<Value: Encodable>(_ value: Value) -> Int? {
    if Value.self == Int.self || Value.self == Double.self { return 9 }
    if Value.self == Bool.self { return 1 }
    if Value.self == String.self { return 1 + 10 + unsafeBitCast(value, to: String.self).utf8.count }
    return nil
}

/// Writes a value that ``encodedScalarSize(_:)`` accepted, as its single-value container would.
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

/// Writes scalars as `EncodingState.writeScalar` does, into memory sized beforehand.
private struct ScalarWriter {
    let base: UnsafeMutablePointer<UInt8>
    var count = 0

    mutating func append(_ byte: UInt8) {
        base[count] = byte
        count += 1
    }

    mutating func appendTagged<T: FixedWidthInteger>(_ tag: Tag, _ value: T) {
        append(tag.rawValue)
        UnsafeMutableRawPointer(base + count).storeBytes(of: value.littleEndian, as: T.self)
        count += MemoryLayout<T>.size
    }

    mutating func write(_ value: Int) { appendTagged(.int64, Int64(value)) }

    mutating func write(_ value: String) {
        append(Tag.string.rawValue)
        var value = value
        value.withUTF8 { utf8 in
            var length = UInt64(utf8.count)
            while length >= 0x80 {
                append(UInt8(truncatingIfNeeded: length) | 0x80)
                length >>= 7
            }
            append(UInt8(length))
            if let source = utf8.baseAddress { (base + count).update(from: source, count: utf8.count) }
            count += utf8.count
        }
    }

    mutating func writeScalar<Value: Encodable>(_ value: Value) {
        if Value.self == Int.self {
            write(unsafeBitCast(value, to: Int.self))
        } else if Value.self == Double.self {
            appendTagged(.float64, unsafeBitCast(value, to: Double.self).bitPattern)
        } else if Value.self == String.self {
            write(unsafeBitCast(value, to: String.self))
        } else {
            append(unsafeBitCast(value, to: Bool.self) ? Tag.trueValue.rawValue : Tag.falseValue.rawValue)
        }
    }
}
