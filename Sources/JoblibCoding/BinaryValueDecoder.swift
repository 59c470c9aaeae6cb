/// The `Decoder` handed to one value's `init(from:)`: the value starts at `offset`.
///
/// A class, so that handing it over as `any Decoder` allocates nothing: the state keeps finished
/// decoders that nobody else holds and reuses them for later values. It also keeps the position
/// of its keyed container between lookups (the container itself cannot change).
final class BinaryValueDecoder: Decoder {
    let state: DecodingState
    @exclusivity(unchecked) private(set) var offset: Int
    @exclusivity(unchecked) private(set) var path: CodingPath
    @exclusivity(unchecked) private(set) var depth: Int
    var codingPath: [any CodingKey] { path.keys }
    var userInfo: [CodingUserInfoKey: Any] { state.userInfo }

    // The keyed container's cursor. Synthesised `Codable` reads keys in the order it wrote them,
    // so the next key asked for is usually the entry after the last one found.

    /// Where the last key found starts (its length varint), or -1.
    @exclusivity(unchecked) var lastKey = -1
    /// Where that key's value starts.
    @exclusivity(unchecked) var lastValue = -1
    /// The marker after that value, or -1 until someone needs it.
    @exclusivity(unchecked) var nextEntry = -1
    /// Every entry, once a lookup had to search far: then lookups search these keys instead of
    /// walking values, as a dictionary read in another order than it was written needs.
    @exclusivity(unchecked) var entries: [(keyStart: Int, keyLength: Int, value: Int)]?
    /// The entry after the last one found in `entries`.
    @exclusivity(unchecked) var entryHint = 0
    /// A hash table over `entries` (entry index + 1, 0 for empty), made when lookups in a large
    /// container jump around, so that each costs O(1) instead of a walk.
    @exclusivity(unchecked) var entryTable: [Int]?
    /// The state's list of spare decoders.
    @exclusivity(unchecked) var nextFree: Unmanaged<BinaryValueDecoder>?
    /// The slot of the kept keyed container this decoder's value uses, freed when it is decoded.
    /// Not counted: the state keeps its slots until it frees them all (`finish`), which clears this.
    @exclusivity(unchecked) unowned(unsafe) var heldSlot: DecoderSlot?
    /// The parent node of the paths of this value's children, made once when first needed.
    @exclusivity(unchecked) private var childParent: PathNode?
    @exclusivity(unchecked) private var hasChildParent = false

    init(state: DecodingState, offset: Int, path: CodingPath, depth: Int) {
        self.state = state
        self.offset = offset
        self.path = path
        self.depth = depth
    }

    @inline(__always) func reset(offset: Int, path: CodingPath, depth: Int) {
        self.offset = offset
        self.path = path
        self.depth = depth
        lastKey = -1
        lastValue = -1
        nextEntry = -1
        if entries != nil {
            entries = nil
            entryTable = nil
        }
        entryHint = 0
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

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        try BinaryKeyedDecodingContainer<Key>.checkTag(of: self)
        // A container kept for this key type (KeyedContainerCache), when it is free: this
        // decoder holds it until its value is decoded (`DecodingState.decodeValue`).
        if heldSlot == nil, let (holder, slot) = state.keyedContainers.free(ObjectIdentifier(Key.self)) {
            slot.decoder = self
            heldSlot = slot
            return unsafeDowncast(holder, to: KeyedContainerHolder<KeyedDecodingContainer<Key>>.self).copy()
        }
        return makeContainer(Key.self)
    }

    /// A new keyed container, kept for the next values if its key type is asked for often. Apart
    /// from `container(keyedBy:)`, whose kept path then needs no metadata of
    /// `KeyedDecodingContainer<Key>` (a run-time lookup per call, where it is mentioned).
    @inline(never) private func makeContainer<Key: CodingKey>(_: Key.Type) -> KeyedDecodingContainer<Key> {
        if heldSlot == nil, state.keyedContainers.shouldKeep(ObjectIdentifier(Key.self)) {
            let slot = DecoderSlot(decoder: self)
            let container = KeyedDecodingContainer(BinaryKeyedDecodingContainer<Key>(slot: slot, state: state))
            state.keyedContainers.keep(ObjectIdentifier(Key.self), holder: KeyedContainerHolder(container), slot: slot)
            heldSlot = slot
            return container
        }
        return KeyedDecodingContainer(BinaryKeyedDecodingContainer<Key>(slot: DecoderSlot(decoder: self), state: state))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try BinaryUnkeyedDecodingContainer(state: state, offset: offset, path: path, depth: depth)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        BinarySingleValueDecodingContainer(decoder: self)
    }
}
