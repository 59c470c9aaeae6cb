import JoblibCoding
import JoblibSystem
import Synchronization
import SystemPackage

/// The worker's side: maps the parent's arena read-only and serves its sections to the decoder.
///
/// The worker keeps one for the whole call (batches of the same arena reuse it, see
/// ``adopting(_:)``) and keeps the arrays decoded from it, so the tasks of a call that carry the
/// same array share one copy per worker (copy-on-write) instead of copying it out once per task.
final class MappedArena: BulkSectionReader {
    let id: UInt64
    /// One read-only mapping per file the sections live in, by the parent's descriptor.
    private let mappings: [Int32: MemoryMapping]
    private let sections: [UInt64: SectionEntry]
    /// Decoded values, oldest first: (section, type, value, byte count).
    private var kept: [(section: UInt64, type: ObjectIdentifier, value: Any, byteCount: Int)] = []

    /// At most this many decoded arrays are kept, and beyond `keptBytesLimit` only the newest:
    /// tasks that each carry a different array do not pile them up.
    static let keptLimit = 4
    static let keptBytesLimit = 512 << 20

    private let arenaFD: Int32
    /// The process whose memory `address` sections are read from (the parent).
    private let pid: Int32

    /// - Parameter readableProcess: the only process whose memory a section may be read from (a
    ///   worker's parent; the batch comes from it): a batch that names another is refused.
    init(_ reference: ArenaReference, readableProcess: Int32 = parentProcessID) throws {
        id = reference.id
        arenaFD = reference.fd
        pid = reference.pid
        var ends: [Int32: Int] = [:]
        for entry in reference.sections {
            guard entry.byteCount >= 0, entry.offset >= 0, entry.offset <= Int.max - entry.byteCount else {
                throw ProtocolError("shared array \(entry.number) has a negative or overflowing place")
            }
            if entry.address != nil {
                try ParentMemorySection.check(entry, pid: reference.pid, readableProcess: readableProcess)
                continue
            }
            ends[entry.fd ?? reference.fd] = max(ends[entry.fd ?? reference.fd] ?? 0, entry.offset + entry.byteCount)
        }
        var mappings: [Int32: MemoryMapping] = [:]
        for (descriptor, end) in ends {
            let path = FilePath("/proc/\(reference.pid)/fd/\(descriptor)")
            mappings[descriptor] = try withFileDescriptor(path, .readOnly) { fd in
                try MemoryMapping(fd: fd, offset: 0, count: end, access: .readOnly)
            }
        }
        self.mappings = mappings
        sections = Dictionary(reference.sections.map { ($0.number, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The arena for a batch that refers to `reference`: a new mapping (each batch maps what it
    /// needs, as views into the mapping hold it, and a later batch may add sections) that keeps
    /// this one's decoded copies when the arena is the same.
    func adopting(_ reference: ArenaReference) throws -> MappedArena {
        guard reference.id == id else { return try MappedArena(reference) }
        let grown = try MappedArena(reference)
        grown.kept = kept
        return grown
    }

    func section(_ number: UInt64, elementType: BulkElementType, count: Int) throws -> BulkSection {
        if let entry = sections[number], let address = entry.address {
            return ParentMemorySection.section(entry, address: address, pid: pid)
        }
        guard let entry = sections[number], let mapping = mappings[entry.fd ?? arenaFD],
              entry.offset + entry.byteCount <= mapping.count
        else {
            throw ProtocolError("the task refers to shared array \(number), which the parent did not send")
        }
        return BulkSection(bytes: UnsafeRawBufferPointer(rebasing: mapping.bytes[entry.offset..<(entry.offset + entry.byteCount)]), owner: mapping)
    }

    func decodedValue(ofSection number: UInt64, as type: Any.Type) -> Any? {
        let wanted = ObjectIdentifier(type)
        return kept.last { $0.section == number && $0.type == wanted }?.value
    }

    func keepDecodedValue(_ value: Any, ofSection number: UInt64, byteCount: Int) {
        Self.decodedCount.add(1, ordering: .relaxed)
        kept.append((number, ObjectIdentifier(Swift.type(of: value)), value, byteCount))
        var total = kept.reduce(0) { $0 + $1.byteCount }
        while kept.count > 1, kept.count > Self.keptLimit || total > Self.keptBytesLimit {
            total -= kept.removeFirst().byteCount
        }
    }

    /// The worker's call is over: its largest copied-out array becomes the spare (replacing any
    /// spare still held), everything else goes.
    ///
    /// The next call's array of the same type and size is then copied into the spare's storage
    /// instead of fresh memory: fresh pages cost the kernel a zeroing pass and a fault each,
    /// several times the copy itself (BENCHMARKS.md, "Big `[Double]` arguments read from the
    /// parent"). The spare's bytes are all overwritten before anyone sees them, so no content
    /// crosses from one call to the next. One array per worker, at most: dropped as soon as a
    /// call copies out another large array (before that copy is allocated), when the worker stays
    /// idle for ``spareIdleLimit``, and with the worker.
    func endCall() {
        let largest = kept.max { $0.byteCount < $1.byteCount }
        kept = []
        Self.spare.withLock { spare in
            spare = largest.flatMap { $0.byteCount >= Self.spareMinimum ? Spare(value: $0.value, type: $0.type, byteCount: $0.byteCount) : nil }
        }
    }

    func takeReusableValue(as type: Any.Type, byteCount: Int) -> Any? {
        Self.spare.withLock { spare in
            guard let found = spare else { return nil }
            guard found.type == ObjectIdentifier(type), found.byteCount == byteCount else {
                // Another large array: the spare's memory goes back now, so that the new copy
                // lands on pages just freed instead of on more memory (which costs the most).
                if byteCount >= Self.spareMinimum { spare = nil }
                return nil
            }
            spare = nil
            Self.reusedCount.add(1, ordering: .relaxed)
            return found.value
        }
    }

    /// Drops the spare (the worker has been idle for ``spareIdleLimit``).
    static func dropSpare() { spare.withLock { $0 = nil } }

    /// Whether a spare is held.
    static var holdsSpare: Bool { spare.withLock { $0 != nil } }

    /// Arrays smaller than this are not kept as spares (their pages cost little). Chosen.
    static let spareMinimum = 1 << 20
    /// An idle worker drops its spare after this long without a frame. Chosen: longer than the
    /// gap between calls in a loop, short enough that an idle pool soon holds nothing.
    static let spareIdleLimit: Duration = .seconds(5)

    private struct Spare: @unchecked Sendable {
        // @unchecked: only the worker's main thread decodes and ends calls.
        var value: Any
        var type: ObjectIdentifier
        var byteCount: Int
    }
    private static let spare = Mutex<Spare?>(nil)

    /// How many arrays this process decoded into a spare's storage (tests).
    package static let reusedCount = Atomic<Int>(0)

    /// How many arrays this process has decoded from shared memory (tests: once per call and array).
    package static let decodedCount = Atomic<Int>(0)
    /// How many of them it read from the parent's memory (``ParentMemorySection``).
    package static let parentReadCount = Atomic<Int>(0)

    /// How many decoded arrays are kept (for tests).
    var keptCount: Int { kept.count }
}
