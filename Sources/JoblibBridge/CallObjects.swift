import JoblibCoding
import JoblibProcesses

/// The large arrays of one call on a cluster, each sent to the bridge once as an object (an
/// `object` frame) instead of inside every submission that carries it: the bridge stores it in the
/// cluster (Ray: `ray.put`) and the Swift worker hosts place it in a memory file their Swift
/// worker maps (BridgeProtocol.md, "Objects").
///
/// The encoder offers it every bulk array (``storeSection(_:elementType:count:owner:)``); arrays of at
/// least `threshold` bytes become sections of the call's arena, one object each, the same array
/// (same buffer and contents) stored once. Used by the call's driving thread only.
///
/// An address names an array only while that array lives: the tasks of a finished batch may be
/// freed (a lazy input) and a later array of the same size allocated at the same place. So each
/// object keeps the array that owns its bytes (`owner`, as the `.processes` arena does) until it
/// is released: while an object is live its address cannot hold another array, and once it is
/// released its address is forgotten.
final class CallObjects: BulkSectionWriter {
    let threshold: Int
    /// The arena id the worker keys its decoded copies by.
    let arenaID = UInt64.random(in: 1 ... .max)
    /// Live objects' bytes beyond which those no submission in flight uses are released, oldest
    /// use first (the newest is always kept): a call whose tasks each carry an array of their own
    /// does not pile them up in the cluster's object store and the hosts' memory files.
    let liveBytesLimit: Int
    private let newObjectID: () -> UInt64

    private struct Pair: Hashable {
        var address: UInt
        var count: Int
    }

    private struct Object {
        var section: PlacedSection
        var key: Pair
        /// The array whose bytes these are, kept alive while the object is.
        var owner: any Sendable
        /// The submission that used it last (a counter of this call), for releasing the oldest.
        var lastUse = 0
        var inFlight = 0
    }

    /// Live objects by section number.
    private var objects: [UInt64: Object] = [:]
    private var sectionByKey: [Pair: UInt64] = [:]
    private var nextSection: UInt64 = 0
    /// Objects made since the last ``takeUnsent()``: (object id, bytes).
    private var unsent: [(UInt64, [UInt8])] = []
    /// Sections offered since the last ``takeOffered()``.
    private var offered: [UInt64] = []
    private var uses = 0

    init(threshold: Int, liveBytesLimit: Int = 1 << 30, newObjectID: @escaping () -> UInt64) {
        self.threshold = threshold
        self.liveBytesLimit = liveBytesLimit
        self.newObjectID = newObjectID
    }

    func storeSection(_ bytes: UnsafeRawBufferPointer, elementType: BulkElementType, count: Int, owner: any Sendable) throws -> UInt64? {
        guard bytes.count >= threshold, let base = bytes.baseAddress else { return nil }
        let key = Pair(address: UInt(bitPattern: base), count: bytes.count)
        if let number = sectionByKey[key] {
            if !offered.contains(number) { offered.append(number) }
            return number
        }
        let number = nextSection
        nextSection += 1
        let object = newObjectID()
        objects[number] = Object(
            section: PlacedSection(number: number, object: object, byteCount: bytes.count), key: key, owner: owner)
        sectionByKey[key] = number
        unsent.append((object, Array(bytes)))
        offered.append(number)
        return number
    }

    /// The objects to send to the bridge before the submission just encoded.
    func takeUnsent() -> [(id: UInt64, bytes: [UInt8])] {
        defer { unsent = [] }
        return unsent.map { (id: $0.0, bytes: $0.1) }
    }

    /// The sections the submission just encoded refers to (a cluster sends one slice per batch at
    /// a time, so each submission is encoded right before it is sent), now in flight.
    func takeOffered() -> [PlacedSection] {
        defer { offered = [] }
        uses += 1
        return offered.compactMap { number in
            objects[number]?.lastUse = uses
            objects[number]?.inFlight += 1
            return objects[number]?.section
        }
    }

    /// A submission that used `sections` is over.
    func finished(_ sections: [PlacedSection]) {
        for section in sections { objects[section.number]?.inFlight -= 1 }
    }

    /// Objects to release now (their bytes are over ``liveBytesLimit``): the oldest used that no
    /// submission in flight uses, never the newest. A later task that carries the same array
    /// sends it again, as a new section.
    func overLimit() -> [UInt64] {
        var live = objects.values.reduce(0) { $0 + $1.section.byteCount }
        guard live > liveBytesLimit else { return [] }
        let newest = objects.values.max { $0.lastUse < $1.lastUse }?.section.number
        var released: [UInt64] = []
        for object in objects.values.sorted(by: { $0.lastUse < $1.lastUse }) where live > liveBytesLimit {
            guard object.inFlight == 0, object.section.number != newest else { continue }
            objects[object.section.number] = nil
            if sectionByKey[object.key] == object.section.number { sectionByKey[object.key] = nil }
            live -= object.section.byteCount
            released.append(object.section.object)
        }
        return released
    }

    /// Every live object's id (to release at the end of the call).
    var live: [UInt64] { objects.values.map(\.section.object).sorted() }
}
