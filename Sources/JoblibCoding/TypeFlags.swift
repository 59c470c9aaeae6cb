import Synchronization

/// What the coders need to know about a type before coding a value of it, cached per coding run.
///
/// Asking the runtime whether a type conforms to a protocol (`value as? any BulkArrayCodable`)
/// costs a conformance-cache lookup on every value; an array of records asks the same question
/// about the same type 100,000 times. Four recently seen types are remembered, and every type
/// classified once in this process is remembered process-wide (`classify`): small runs, such as
/// a cache key's hash or a small cached result's decode, meet each of their types only once.
struct TypeFlagsCache {
    /// `[T]` of a `BulkCodable` with bulk layout, or `Data`: coded as raw bytes.
    static let bulk: UInt8 = 1
    /// A `Dictionary` or `Set`: sorted in canonical (hashing) mode.
    static let unordered: UInt8 = 2
    /// Set on every computed entry, so that an empty slot (0) is never mistaken for one.
    private static let known: UInt8 = 0x80

    private var types: (ObjectIdentifier?, ObjectIdentifier?, ObjectIdentifier?, ObjectIdentifier?) = (nil, nil, nil, nil)
    private var values: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
    private var victim = 0

    @inline(__always) mutating func flags(for type: Any.Type, _ classify: (Any.Type) -> UInt8) -> UInt8 {
        let id = ObjectIdentifier(type)
        if types.0 == id { return values.0 }
        if types.1 == id { return values.1 }
        if types.2 == id { return values.2 }
        if types.3 == id { return values.3 }
        return insert(id, classify(type) | Self.known)
    }

    private mutating func insert(_ id: ObjectIdentifier, _ value: UInt8) -> UInt8 {
        switch victim {
        case 0: types.0 = id; values.0 = value
        case 1: types.1 = id; values.1 = value
        case 2: types.2 = id; values.2 = value
        default: types.3 = id; values.3 = value
        }
        victim = (victim + 1) & 3
        return value
    }

    /// The flags of `type`, from the process-wide table or computed once. Type metadata lives as
    /// long as the process, so its identifier is never reused and the table only grows by the
    /// number of distinct types coded.
    static func classify(_ type: Any.Type) -> UInt8 {
        let id = ObjectIdentifier(type)
        if let known = classified.withLock({ $0[id] }) { return known }
        let flags = computeFlags(type)
        classified.withLock { $0[id] = flags }
        return flags
    }

    private static let classified = Mutex<[ObjectIdentifier: UInt8]>([:])

    private static func computeFlags(_ type: Any.Type) -> UInt8 {
        var flags: UInt8 = 0
        if let bulkType = type as? any BulkArrayCodable.Type, bulkType.hasBulkLayout { flags |= bulk }
        if type is any CanonicallyUnordered.Type { flags |= unordered }
        return flags
    }
}
