/// Keyed containers kept for reuse within one coding run, one per key type.
///
/// `KeyedEncodingContainer(_:)` and `KeyedDecodingContainer(_:)` allocate a box for the concrete
/// container, and in code that knows the key type only generically (the coders are called through
/// `Encoder` and `Decoder`) look up the metadata of that box and of the container type at run time:
/// for a small struct that was most of the `Codable` machinery's cost (BENCHMARKS.md, "`Codable`
/// tiny tasks"). An array of records asks for a container of the same key type once per element,
/// so the coders keep the container made for a key type the second time it is asked for, and
/// hand the same one to every later value of that type. The container itself holds nothing but
/// its slot; the slot names the value's coder while that value is being coded.
///
/// A kept container is in use by one value at a time: a value of the same type nested inside it
/// (a tree) gets a container of its own. A container kept past its value's `encode(to:)` or
/// `init(from:)` (which the `Codable` contract does not allow) throws when used after the run, but
/// while a later value of its type is coded it would act on that value.
struct KeyedContainerCache<Slot: ContainerSlot> {
    /// At most this many key types are kept (a record type, the types of its fields).
    private static var capacity: Int { 4 }
    /// Key types asked for; `holders[i]` is nil for a type asked for once.
    private var types: [ObjectIdentifier] = []
    private var holders: [AnyObject?] = []
    private var slots: [Slot?] = []

    /// The container kept for `type` and its slot, if it is not in use.
    @inline(__always) func free(_ type: ObjectIdentifier) -> (holder: AnyObject, slot: Slot)? {
        var index = 0
        while index < types.count {
            if types[index] == type {
                guard let holder = holders[index], let slot = slots[index], slot.isFree else { return nil }
                return (holder, slot)
            }
            index += 1
        }
        return nil
    }

    /// Whether to keep the container about to be made for `type`: true the second time the type
    /// is asked for (a value coded once, as most messages are, allocates nothing more), while
    /// there is room.
    mutating func shouldKeep(_ type: ObjectIdentifier) -> Bool {
        if let index = types.firstIndex(of: type) { return holders[index] == nil }
        guard types.count < Self.capacity else { return false }
        types.append(type)
        holders.append(nil)
        slots.append(nil)
        return false
    }

    /// Keeps `holder` (a ``KeyedContainerHolder``) and its slot for `type`.
    mutating func keep(_ type: ObjectIdentifier, holder: AnyObject, slot: Slot) {
        guard let index = types.firstIndex(of: type) else { return }
        holders[index] = holder
        slots[index] = slot
    }

    /// Frees every slot (a run that ends, or one that threw while values were mid-way).
    func releaseAll() {
        for slot in slots { slot?.release() }
    }

    /// Frees every slot and drops the containers (the end of the run).
    mutating func removeAll() {
        releaseAll()
        types = []
        holders = []
        slots = []
    }
}

/// What a kept container's slot must say: whether a value holds it, and how to free it.
protocol ContainerSlot: AnyObject {
    var isFree: Bool { get }
    func release()
}

/// A kept container, typed (`KeyedEncodingContainer<Key>` or `KeyedDecodingContainer<Key>`).
final class KeyedContainerHolder<Container> {
    private let container: Container
    init(_ container: Container) { self.container = container }

    /// A copy of the container. Not inlined on purpose: here `Container`'s metadata comes from
    /// the instance, where the caller, generic over the key type, would look it up at run time.
    @inline(never) func copy() -> Container { container }
}

/// Where a keyed encoding container writes: the encoder of its value and the container's id,
/// while that value is being encoded.
final class EncoderSlot: ContainerSlot {
    @exclusivity(unchecked) var encoder: BinaryValueEncoder?
    @exclusivity(unchecked) var id: Int

    init(encoder: BinaryValueEncoder, id: Int) {
        self.encoder = encoder
        self.id = id
    }

    var isFree: Bool { encoder == nil }

    /// The value is finished: later writes through a container kept past it throw.
    func release() {
        encoder?.heldSlot = nil
        encoder = nil
        id = 0  // never a container's id (they start at 1)
    }
}

/// What a keyed decoding container reads: the decoder of its value, while that value is decoded.
final class DecoderSlot: ContainerSlot {
    @exclusivity(unchecked) var decoder: BinaryValueDecoder?

    init(decoder: BinaryValueDecoder) { self.decoder = decoder }

    var isFree: Bool { decoder == nil }

    func release() {
        decoder?.heldSlot = nil
        decoder = nil
    }
}
