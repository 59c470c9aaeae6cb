import JoblibCoding
import JoblibSystem
import Synchronization
import SystemPackage

/// Large arrays in a call's tasks, placed once in an anonymous shared-memory file (memfd) that
/// workers map read-only, instead of being copied into every task's bytes.
///
/// The file has no name anywhere (nothing is left in `/dev/shm` or a temporary folder, whatever
/// happens to the parent); workers open it through `/proc/<parent>/fd/<n>`. The same array
/// (same buffer) in many tasks is stored once.
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
        var closed = false
    }

    struct Pair: Hashable {
        var address: UInt
        var count: Int
    }

    init(threshold: ByteCount) { self.threshold = threshold.bytes }

    func storeSection(_ bytes: UnsafeRawBufferPointer, elementType: BulkElementType, count: Int) throws -> UInt64? {
        guard bytes.count >= threshold, let base = bytes.baseAddress else { return nil }
        let key = Pair(address: UInt(bitPattern: base), count: bytes.count)
        return try state.withLock { state -> UInt64? in
            if let number = state.stored[key] { return number }
            guard !state.closed else { return nil }
            if state.fd == nil { state.fd = try SharedMemoryFile.create(name: "joblib-arguments", size: 0) }
            // 64-byte alignment keeps every element type aligned in the workers' mapping.
            let offset = (state.size + 63) & ~63
            try state.fd!.writeAll(bytes, at: offset)
            state.size = offset + bytes.count
            let number = UInt64(state.sections.count)
            state.sections.append(SectionEntry(number: number, offset: offset, byteCount: bytes.count))
            state.stored[key] = number
            return number
        }
    }

    /// What a worker needs to map the sections that `numbers` refers to (nil: none used).
    var reference: ArenaReference? {
        state.withLock { state in
            guard let fd = state.fd else { return nil }
            return ArenaReference(id: id, pid: currentProcessID, fd: fd.rawValue, sections: state.sections)
        }
    }

    /// Closes the parent's descriptor; the memory goes when the last worker mapping goes.
    func close() {
        state.withLock { state in
            state.closed = true
            try? state.fd?.close()
            state.fd = nil
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
}

struct SectionEntry: Codable {
    var number: UInt64
    var offset: Int
    var byteCount: Int
}

/// The worker's side: maps the parent's arena read-only and serves its sections to the decoder.
final class MappedArena: BulkSectionReader {
    private let mapping: MemoryMapping
    private let sections: [UInt64: SectionEntry]

    init(_ reference: ArenaReference) throws {
        let path = FilePath("/proc/\(reference.pid)/fd/\(reference.fd)")
        let end = reference.sections.map { $0.offset + $0.byteCount }.max() ?? 0
        mapping = try withFileDescriptor(path, .readOnly) { fd in
            try MemoryMapping(fd: fd, offset: 0, count: end, access: .readOnly)
        }
        sections = Dictionary(reference.sections.map { ($0.number, $0) }, uniquingKeysWith: { first, _ in first })
    }

    func section(_ number: UInt64, elementType: BulkElementType, count: Int) throws -> BulkSection {
        guard let entry = sections[number], entry.offset + entry.byteCount <= mapping.count else {
            throw ProtocolError("the task refers to shared array \(number), which the parent did not send")
        }
        return BulkSection(bytes: UnsafeRawBufferPointer(rebasing: mapping.bytes[entry.offset..<(entry.offset + entry.byteCount)]), owner: mapping)
    }
}
