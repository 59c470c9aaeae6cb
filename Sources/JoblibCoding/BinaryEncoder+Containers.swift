/// The `Encoder` handed to one value's `encode(to:)`.
///
/// The state keeps finished encoders that nobody else holds and reuses them for later values,
/// so encoding a value allocates no encoder.
final class BinaryValueEncoder: Encoder {
    let state: EncodingState
    @exclusivity(unchecked) private(set) var path: CodingPath
    var codingPath: [any CodingKey] { path.keys }
    var userInfo: [CodingUserInfoKey: Any] { state.userInfo }
    /// The container this encoder opened, returned again if asked twice (class hierarchies do).
    @exclusivity(unchecked) private var keyedID: Int?
    @exclusivity(unchecked) private var unkeyed: UnkeyedBox?
    /// The parent node of the paths of this value's children, made once when first needed.
    @exclusivity(unchecked) private var childParent: PathNode?
    @exclusivity(unchecked) private var hasChildParent = false
    /// The state's list of spare encoders.
    @exclusivity(unchecked) var nextFree: Unmanaged<BinaryValueEncoder>?
    /// The slot of the kept keyed container this encoder's value uses, freed when it is finished.
    /// Not counted: the state keeps its slots until it frees them all (`finish`), which clears this.
    @exclusivity(unchecked) unowned(unsafe) var heldSlot: EncoderSlot?

    init(state: EncodingState, path: CodingPath) {
        self.state = state
        self.path = path
    }

    @inline(__always) func reset(path: CodingPath) {
        self.path = path
        keyedID = nil
        if unkeyed != nil { unkeyed = nil }
        if hasChildParent {
            childParent = nil
            hasChildParent = false
        }
    }

    /// The path of this value's child at `key`.
    @inline(__always) func childPath(_ key: some CodingKey) -> CodingPath {
        if !hasChildParent {
            childParent = path.childParent
            hasChildParent = true
        }
        return CodingPath(parent: childParent, last: key)
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let id = keyedID ?? state.openContainer(.keyed)
        keyedID = id
        // A container kept for this key type (KeyedContainerCache), when it is free: this
        // encoder holds it until its value is finished (`EncodingState.encodeValue`).
        if heldSlot == nil, let (holder, slot) = state.keyedContainers.free(ObjectIdentifier(Key.self)) {
            slot.encoder = self
            slot.id = id
            heldSlot = slot
            return unsafeDowncast(holder, to: KeyedContainerHolder<KeyedEncodingContainer<Key>>.self).copy()
        }
        return makeContainer(Key.self, id: id)
    }

    /// A new keyed container, kept for the next values if its key type is asked for often. Apart
    /// from `container(keyedBy:)`, whose kept path then needs no metadata of
    /// `KeyedEncodingContainer<Key>` (a run-time lookup per call, where it is mentioned).
    @inline(never) private func makeContainer<Key: CodingKey>(_: Key.Type, id: Int) -> KeyedEncodingContainer<Key> {
        if heldSlot == nil, state.keyedContainers.shouldKeep(ObjectIdentifier(Key.self)) {
            let slot = EncoderSlot(encoder: self, id: id)
            let container = KeyedEncodingContainer(BinaryKeyedEncodingContainer<Key>(slot: slot, state: state))
            state.keyedContainers.keep(ObjectIdentifier(Key.self), holder: KeyedContainerHolder(container), slot: slot)
            heldSlot = slot
            return container
        }
        return KeyedEncodingContainer(BinaryKeyedEncodingContainer<Key>(slot: EncoderSlot(encoder: self, id: id), state: state))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let box = unkeyed ?? UnkeyedBox(id: state.openContainer(.unkeyed))
        unkeyed = box
        return BinaryUnkeyedEncodingContainer(state: state, box: box, path: path)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        BinarySingleValueEncodingContainer(encoder: self)
    }
}

/// Shared by copies of one unkeyed container, so `count` stays right.
final class UnkeyedBox {
    let id: Int
    @exclusivity(unchecked) var count = 0
    /// The parent node of the elements' paths, made once when first needed.
    @exclusivity(unchecked) var elementParent: PathNode?
    @exclusivity(unchecked) var hasElementParent = false
    init(id: Int) { self.id = id }
}

/// Writes one scalar with its tag; shared by all three container kinds.
extension EncodingState {
    @inline(__always) func writeScalar(_ value: Bool) { append(value ? .trueValue : .falseValue) }
    @inline(__always) func writeScalar(_ value: String) { append(.string); appendString(value) }
    @inline(__always) func writeScalar(_ value: Double) { appendTagged(.float64, value.bitPattern) }
    @inline(__always) func writeScalar(_ value: Float) { appendTagged(.float32, value.bitPattern) }
    @inline(__always) func writeScalar(_ value: Int) { appendTagged(.int64, Int64(value)) }
    @inline(__always) func writeScalar(_ value: Int8) { appendTagged(.int8, value) }
    @inline(__always) func writeScalar(_ value: Int16) { appendTagged(.int16, value) }
    @inline(__always) func writeScalar(_ value: Int32) { appendTagged(.int32, value) }
    @inline(__always) func writeScalar(_ value: Int64) { appendTagged(.int64, value) }
    @inline(__always) func writeScalar(_ value: UInt) { appendTagged(.uint64, UInt64(value)) }
    @inline(__always) func writeScalar(_ value: UInt8) { appendTagged(.uint8, value) }
    @inline(__always) func writeScalar(_ value: UInt16) { appendTagged(.uint16, value) }
    @inline(__always) func writeScalar(_ value: UInt32) { appendTagged(.uint32, value) }
    @inline(__always) func writeScalar(_ value: UInt64) { appendTagged(.uint64, value) }
}

struct BinaryKeyedEncodingContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    /// The encoder of the value that owns the container (its path, and its children's) and the
    /// container's id; a kept container's slot changes from value to value (KeyedContainerCache).
    private let slot: EncoderSlot
    private let state: EncodingState
    private var path: CodingPath { slot.encoder?.path ?? .root }
    var codingPath: [any CodingKey] { path.keys }

    init(slot: EncoderSlot, state: EncodingState) {
        self.slot = slot
        self.state = state
    }

    /// A freed slot's id is 0, which no container has: a write then throws, as one into any
    /// container whose value finished does.
    @inline(__always) private func begin(_ key: some CodingKey) throws {
        try state.beginEntry(in: slot.id, codingPath: path.appending(key).keys)
        state.appendString(key.stringValue)
    }

    /// The path of the child at `key`.
    @inline(__always) private func childPath(_ key: some CodingKey) -> CodingPath {
        slot.encoder?.childPath(key) ?? CodingPath(parent: nil, last: key)
    }

    mutating func encodeNil(forKey key: Key) throws { try begin(key); state.append(.null) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { try begin(key); state.writeScalar(value) }
    mutating func encode(_ value: String, forKey key: Key) throws { try begin(key); state.writeScalar(value) }
    mutating func encode(_ value: Double, forKey key: Key) throws { try begin(key); state.writeScalar(value) }
    mutating func encode(_ value: Float, forKey key: Key) throws { try begin(key); state.writeScalar(value) }
    mutating func encode(_ value: Int, forKey key: Key) throws { try begin(key); state.writeScalar(value) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try begin(key); state.writeScalar(value) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try begin(key); state.writeScalar(value) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try begin(key); state.writeScalar(value) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try begin(key); state.writeScalar(value) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try begin(key); state.writeScalar(value) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try begin(key); state.writeScalar(value) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try begin(key); state.writeScalar(value) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try begin(key); state.writeScalar(value) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try begin(key); state.writeScalar(value) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try begin(key)
        try state.encodeValue(value, path: childPath(key))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        // The protocol gives no way to throw here; a misuse is caught at the next write instead.
        try? begin(key)
        let nested = state.openContainer(.keyed)
        let owner = state.makeEncoder(path: childPath(key))
        return KeyedEncodingContainer(
            BinaryKeyedEncodingContainer<NestedKey>(slot: EncoderSlot(encoder: owner, id: nested), state: state))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        try? begin(key)
        let box = UnkeyedBox(id: state.openContainer(.unkeyed))
        return BinaryUnkeyedEncodingContainer(state: state, box: box, path: childPath(key))
    }

    mutating func superEncoder() -> any Encoder { superEncoder(for: NameKey("super")) }

    mutating func superEncoder(forKey key: Key) -> any Encoder { superEncoder(for: key) }

    private func superEncoder(for key: some CodingKey) -> any Encoder {
        try? begin(key)
        return state.makeEncoder(path: childPath(key))
    }
}

struct BinaryUnkeyedEncodingContainer: UnkeyedEncodingContainer {
    let state: EncodingState
    let box: UnkeyedBox
    let path: CodingPath
    var codingPath: [any CodingKey] { path.keys }
    var count: Int { box.count }

    @inline(__always) private func begin() throws {
        try state.beginEntry(in: box.id, codingPath: path.appending(IndexKey(box.count)).keys)
        box.count += 1
    }

    /// The path of element `index`; the elements share their parent node.
    private func elementPath(_ index: Int) -> CodingPath {
        if !box.hasElementParent {
            box.elementParent = path.childParent
            box.hasElementParent = true
        }
        return CodingPath(parent: box.elementParent, index: index)
    }

    mutating func encodeNil() throws { try begin(); state.append(.null) }
    mutating func encode(_ value: Bool) throws { try begin(); state.writeScalar(value) }
    mutating func encode(_ value: String) throws { try begin(); state.writeScalar(value) }
    mutating func encode(_ value: Double) throws { try begin(); state.writeScalar(value) }
    mutating func encode(_ value: Float) throws { try begin(); state.writeScalar(value) }
    mutating func encode(_ value: Int) throws { try begin(); state.writeScalar(value) }
    mutating func encode(_ value: Int8) throws { try begin(); state.writeScalar(value) }
    mutating func encode(_ value: Int16) throws { try begin(); state.writeScalar(value) }
    mutating func encode(_ value: Int32) throws { try begin(); state.writeScalar(value) }
    mutating func encode(_ value: Int64) throws { try begin(); state.writeScalar(value) }
    mutating func encode(_ value: UInt) throws { try begin(); state.writeScalar(value) }
    mutating func encode(_ value: UInt8) throws { try begin(); state.writeScalar(value) }
    mutating func encode(_ value: UInt16) throws { try begin(); state.writeScalar(value) }
    mutating func encode(_ value: UInt32) throws { try begin(); state.writeScalar(value) }
    mutating func encode(_ value: UInt64) throws { try begin(); state.writeScalar(value) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let index = box.count
        try begin()
        try state.encodeValue(value, path: elementPath(index))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let index = box.count
        try? begin()
        let nested = state.openContainer(.keyed)
        let owner = state.makeEncoder(path: elementPath(index))
        return KeyedEncodingContainer(
            BinaryKeyedEncodingContainer<NestedKey>(slot: EncoderSlot(encoder: owner, id: nested), state: state))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let index = box.count
        try? begin()
        let nested = UnkeyedBox(id: state.openContainer(.unkeyed))
        return BinaryUnkeyedEncodingContainer(state: state, box: nested, path: elementPath(index))
    }

    mutating func superEncoder() -> any Encoder {
        let index = box.count
        try? begin()
        return state.makeEncoder(path: elementPath(index))
    }
}

/// Holds the value's encoder only, so that it fits in an existential without allocating.
struct BinarySingleValueEncodingContainer: SingleValueEncodingContainer {
    let encoder: BinaryValueEncoder
    private var state: EncodingState { encoder.state }
    var codingPath: [any CodingKey] { encoder.path.keys }

    mutating func encodeNil() throws { state.append(.null) }
    mutating func encode(_ value: Bool) throws { state.writeScalar(value) }
    mutating func encode(_ value: String) throws { state.writeScalar(value) }
    mutating func encode(_ value: Double) throws { state.writeScalar(value) }
    mutating func encode(_ value: Float) throws { state.writeScalar(value) }
    mutating func encode(_ value: Int) throws { state.writeScalar(value) }
    mutating func encode(_ value: Int8) throws { state.writeScalar(value) }
    mutating func encode(_ value: Int16) throws { state.writeScalar(value) }
    mutating func encode(_ value: Int32) throws { state.writeScalar(value) }
    mutating func encode(_ value: Int64) throws { state.writeScalar(value) }
    mutating func encode(_ value: UInt) throws { state.writeScalar(value) }
    mutating func encode(_ value: UInt8) throws { state.writeScalar(value) }
    mutating func encode(_ value: UInt16) throws { state.writeScalar(value) }
    mutating func encode(_ value: UInt32) throws { state.writeScalar(value) }
    mutating func encode(_ value: UInt64) throws { state.writeScalar(value) }
    mutating func encode<T: Encodable>(_ value: T) throws { try state.encodeValue(value, path: encoder.path) }
}

/// A key by name, for `super` (the type's own `CodingKeys` need not have that case).
struct NameKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ name: String) { stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// The coding key of an array element, for coding paths in errors.
struct IndexKey: CodingKey {
    var intValue: Int?
    var stringValue: String { "[\(intValue ?? 0)]" }
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.intValue = intValue }
}
