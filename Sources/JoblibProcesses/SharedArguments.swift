import JoblibCoding
import JoblibSystem
import JoblibTypes
import Synchronization
import SystemPackage

/// Large arrays in a call's tasks, sent once per call instead of being copied into every task's
/// bytes: a `[T]` array stays where it is and workers read it from this process's memory
/// (`process_vm_readv`, straight into the array they make); anything else, and every array for a
/// worker that may not read this process, is placed in an anonymous shared-memory file (memfd)
/// that workers map read-only.
///
/// The file has no name anywhere (nothing is left in `/dev/shm` or a temporary folder, whatever
/// happens to the parent); workers open it through `/proc/<parent>/fd/<n>`. The same array
/// (same buffer) in many tasks is stored once. Every array stored is kept alive until
/// ``close()`` (after the call's last worker is done with it), so the bytes at an address handed
/// to workers can neither change (the array is copy-on-write and shared with us) nor be freed.
final class SharedArgumentArena: BulkSectionWriter, Sendable {
    let threshold: Int
    let id = UInt64.random(in: 1 ... .max)
    private let state = Mutex<State>(State())

    struct State {
        var fd: FileDescriptor?
        var size = 0
        var sections: [SectionEntry] = []
        /// (address, byte count) of arrays already stored → section number.
        var stored: [Pair: UInt64] = [:]
        /// The arrays `stored` names, kept for the call: while one is alive its memory cannot be
        /// freed and reused by a new array with other contents at the same address (lazy input
        /// makes arrays one by one and drops them after their tasks ran).
        var owners: [any Sendable] = []
        /// Shared-memory blocks whose files the sections name directly, kept alive for the call.
        var blocks: [SharedMemoryBlock] = []
        /// Sections that workers may read from this process's memory (`address` set), by number:
        /// where the array is, and its offset in the file once a worker needed it there.
        var inPlace: [UInt64: (address: UInt, offset: Int?)] = [:]
        var closed = false
    }

    /// Arrays smaller than this are written into the file even when workers could read them in
    /// place: a `pwrite` of a few pages costs less than a `process_vm_readv` per worker. Chosen.
    static let inPlaceMinimum = 64 << 10

    /// How many section references named an array in this process's memory, and how many named
    /// such an array in the file instead (a worker that may not read this process), for tests.
    package static let inPlaceReferences = Atomic<Int>(0)
    package static let fileReferences = Atomic<Int>(0)

    struct Pair: Hashable {
        var address: UInt
        var count: Int
    }

    init(threshold: ByteCount) { self.threshold = threshold.bytes }

    func storeSection(_ bytes: UnsafeRawBufferPointer, elementType: BulkElementType, count: Int, owner: any Sendable) throws -> UInt64? {
        guard bytes.count >= threshold, let base = bytes.baseAddress else { return nil }
        let key = Pair(address: UInt(bitPattern: base), count: bytes.count)
        return try state.withLock { state -> UInt64? in
            if let number = state.stored[key] { return number }
            guard !state.closed else { return nil }
            let number = UInt64(state.sections.count)
            // An array already in shared memory (`NDArray(sharedShape:)`): workers map its file.
            if let (block, offset) = SharedMemoryBlock.containing(bytes) {
                state.blocks.append(block)
                state.sections.append(SectionEntry(number: number, offset: offset, byteCount: bytes.count, fd: block.fd.rawValue))
                state.stored[key] = number
                state.owners.append(owner)
                return number
            }
            // An array the worker copies anyway (`[T]`, not an `NDArray`, which workers keep
            // mapped): workers that may read this process take it from here, nothing is written.
            if bytes.count >= Self.inPlaceMinimum, let array = owner as? any BulkArrayCodable, type(of: array).copiesBulkBytes {
                state.sections.append(SectionEntry(number: number, offset: 0, byteCount: bytes.count))
                state.inPlace[number] = (UInt(bitPattern: base), nil)
                state.stored[key] = number
                state.owners.append(owner)
                return number
            }
            let offset = try Self.append(bytes, to: &state)
            state.sections.append(SectionEntry(number: number, offset: offset, byteCount: bytes.count))
            state.stored[key] = number
            state.owners.append(owner)
            return number
        }
    }

    /// Writes `bytes` at the end of the call's file (made on first use); returns their offset.
    private static func append(_ bytes: UnsafeRawBufferPointer, to state: inout State) throws -> Int {
        if state.fd == nil { state.fd = try SharedMemoryFile.create(name: "joblib-arguments", size: 0) }
        // 64-byte alignment keeps every element type aligned in the workers' mapping.
        let offset = (state.size + 63) & ~63
        try state.fd!.writeAll(bytes, at: offset)
        state.size = offset + bytes.count
        return offset
    }

    /// Whether any array went out of line (the worker then keeps the call's arrays until told).
    var hasSections: Bool { state.withLock { !$0.sections.isEmpty } }

    /// What a worker needs to reach the sections (nil: none used). With `readingParentMemory`
    /// (the worker's probe said it may, and this process is still dumpable) the arrays that
    /// stayed in place are named by address; otherwise they are written into the file first,
    /// once, and named there.
    /// - Throws: ``SystemError`` when the memory file cannot be made or written.
    func reference(readingParentMemory: Bool) throws -> ArenaReference? {
        try state.withLock { state in
            guard !state.sections.isEmpty, !state.closed else { return nil }
            var sections = state.sections
            let inPlace = !state.inPlace.isEmpty && readingParentMemory && ProcessMemory.isReadableBySameUser
            for index in sections.indices {
                let number = sections[index].number
                guard let place = state.inPlace[number] else { continue }
                if inPlace {
                    sections[index].address = UInt64(place.address)
                    Self.inPlaceReferences.add(1, ordering: .relaxed)
                    continue
                }
                if let offset = place.offset {
                    sections[index].offset = offset
                } else {
                    let bytes = UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: place.address), count: sections[index].byteCount)
                    let offset = try Self.append(bytes, to: &state)
                    state.inPlace[number]?.offset = offset
                    sections[index].offset = offset
                }
                Self.fileReferences.add(1, ordering: .relaxed)
            }
            return ArenaReference(id: id, pid: currentProcessID, fd: state.fd?.rawValue ?? -1, sections: sections)
        }
    }

    /// Whether the arena made a memory file of its own (false while every section is an array
    /// already in shared memory).
    var ownsFile: Bool { state.withLock { $0.fd != nil } }

    /// Closes the parent's descriptor; the memory goes when the last worker mapping goes.
    func close() {
        state.withLock { state in
            state.closed = true
            try? state.fd?.close()
            state.fd = nil
            state.blocks = []
            state.owners = []
            state.stored = [:]
            state.inPlace = [:]
        }
    }

    deinit { close() }
}

/// Where a batch's shared arrays live: sent with the batch.
struct ArenaReference: Codable {
    var id: UInt64
    var pid: Int32
    var fd: Int32
    var sections: [SectionEntry]

    /// `pid` of an arena whose sections are a cluster bridge's objects: the worker's host (its
    /// parent) placed them, and its `placements` frame says in which of its descriptors.
    static let placedByHost: Int32 = 0

    /// This reference with its objects' places filled in from the host's `placements` frame.
    func resolved(with placements: HostPlacements?) throws -> ArenaReference {
        guard pid == Self.placedByHost else { return self }
        guard let placements else { throw ProtocolError("a batch refers to objects its host did not place") }
        var resolved = self
        resolved.pid = placements.pid
        for index in resolved.sections.indices {
            guard let object = resolved.sections[index].object, let fd = placements.descriptors[object] else {
                throw ProtocolError("the batch refers to object \(resolved.sections[index].object ?? 0), which its host did not place")
            }
            resolved.sections[index].fd = fd
        }
        return resolved
    }
}

struct SectionEntry: Codable {
    var number: UInt64
    var offset: Int
    var byteCount: Int
    /// The parent's descriptor of the file that holds the section, when it is not the arena's own
    /// (an `NDArray` created in shared memory).
    var fd: Int32?
    /// The cluster bridge's object that holds the section (its host says where: ``HostPlacements``).
    var object: UInt64?
    /// Where the section is in the parent's memory, for a worker that reads it from there
    /// (`process_vm_readv`); `offset` and `fd` are then unused.
    var address: UInt64?
}

/// The body of a `placements` frame, written by a cluster's Swift worker host (swift_worker.py)
/// right before a batch: i32 the host's pid, u32 count, then per object u64 its id and i32 the
/// host's descriptor of the memory file that holds it (offset 0), all little-endian.
struct HostPlacements {
    var pid: Int32
    var descriptors: [UInt64: Int32]

    init(frameBody body: [UInt8]) throws {
        func load<T: FixedWidthInteger>(_: T.Type, _ offset: Int) -> T {
            var value: T = 0
            for byte in 0..<MemoryLayout<T>.size { value |= T(truncatingIfNeeded: body[offset + byte]) << (8 * byte) }
            return value
        }
        guard body.count >= 8 else { throw ProtocolError("a placements frame without its header") }
        pid = load(Int32.self, 0)
        let count = Int(load(UInt32.self, 4))
        guard body.count == 8 + count * 12 else { throw ProtocolError("a placements frame of \(body.count) bytes for \(count) objects") }
        descriptors = [:]
        for index in 0..<count {
            descriptors[load(UInt64.self, 8 + index * 12)] = load(Int32.self, 16 + index * 12)
        }
    }
}
