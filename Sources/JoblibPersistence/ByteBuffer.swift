import JoblibSystem
import JoblibTypes

/// A growable block of memory that decompressors write into and arrays may keep.
///
/// A class so that an `NDArray` loaded from a compressed file can keep its elements in place
/// (it retains the buffer as the owner of its bytes) instead of copying them out. The memory is
/// 16-byte aligned (malloc), so sections at 64-byte offsets are aligned for every element type.
final class ByteBuffer: @unchecked Sendable {
    // @unchecked: written only while a load builds it, then read-only except through the single
    // NDArray storage that may own a section of it (copy-on-write keeps that write unique).
    private(set) var base: UnsafeMutableRawPointer?
    private(set) var count = 0
    private(set) var capacity = 0

    init() {}

    /// The bytes written so far.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Makes room for `capacity` bytes in all (exactly, so that a load allocates what the file
    /// needs and no more). Throws `outOfMemory` when the system refuses the memory.
    func reserve(_ capacity: Int) throws(PersistenceError) {
        if capacity > self.capacity { try grow(to: capacity) }
    }

    /// Free space of at least `minimum` bytes after the written ones; call ``commit(_:)`` after writing.
    func freeSpace(minimum: Int) throws(PersistenceError) -> UnsafeMutableRawBufferPointer {
        if capacity - count < minimum {
            // Doubling keeps appends amortised O(1); the floor avoids tiny steps at the start.
            try grow(to: max(capacity * 2, count + minimum, 1 << 16))
        }
        return UnsafeMutableRawBufferPointer(start: base! + count, count: capacity - count)
    }

    /// The most bytes ``boundedFreeSpace(minimum:)`` lets this buffer hold: a decompressed stream
    /// may not grow past it (a decompression bomb would otherwise exhaust memory).
    var limit = Int.max

    /// Free space as ``freeSpace(minimum:)``, but never more than one byte past ``limit`` in all,
    /// and an error once the bytes written go past it. Decompressors write through this.
    func boundedFreeSpace(minimum: Int) throws(PersistenceError) -> UnsafeMutableRawBufferPointer {
        try checkLimit()
        // One byte past the limit is allowed, so that a stream that goes on is told from one that ends there.
        let allowed = limit - count < Int.max ? limit - count + 1 : Int.max
        if capacity - count < min(minimum, allowed) {
            let wanted = max(capacity * 2, count + minimum, 1 << 16)
            try grow(to: allowed < wanted - count ? count + allowed : wanted)
        }
        return UnsafeMutableRawBufferPointer(start: base! + count, count: min(capacity - count, allowed))
    }

    /// What going past ``limit`` means: the error ``checkLimit()`` throws.
    var limitError: (Int) -> PersistenceError = { limit in
        PersistenceError(.tooLarge, "the stream decompresses to more than \(limit) bytes, the most this load accepts (a decompression bomb?)")
    }

    /// Throws ``limitError`` when more than ``limit`` bytes were written.
    func checkLimit() throws(PersistenceError) {
        guard count <= limit else { throw limitError(limit) }
    }

    /// Marks `written` bytes of the last ``freeSpace(minimum:)`` as written.
    func commit(_ written: Int) {
        precondition(written >= 0 && count + written <= capacity)
        count += written
    }

    /// Appends a copy of `bytes`.
    func append(_ bytes: UnsafeRawBufferPointer) throws(PersistenceError) {
        guard bytes.count > 0 else { return }
        let space = try freeSpace(minimum: bytes.count)
        space.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        commit(bytes.count)
    }

    /// Replaces written bytes at `offset` with `bytes`.
    func overwrite(at offset: Int, with bytes: UnsafeRawBufferPointer) {
        precondition(offset >= 0 && offset + bytes.count <= count)
        guard bytes.count > 0 else { return }
        (base! + offset).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
    }

    /// Forgets the written bytes but keeps the memory, for reuse.
    func removeAll() { count = 0 }

    private func grow(to newCapacity: Int) throws(PersistenceError) {
        // realloc moves large blocks with mremap (no copy), which keeps growth while
        // decompressing cheap. malloc's 16-byte alignment covers every element type (8 at most).
        // A refusal (a memory limit, an address-space limit) is an error for the caller to
        // handle, never the end of the process: the old block stays valid and is freed in deinit.
        guard let fresh = reallocateMemory(base, byteCount: newCapacity) else {
            throw PersistenceError(
                .outOfMemory, "could not allocate \(ByteCount(bytes: newCapacity)) of memory (\(newCapacity) bytes) to hold the data")
        }
        // Large buffers are backed by huge pages: filling them then costs far fewer page faults
        // (here 4 KiB faults cost about 1 s per GB, 2 MiB ones a tenth of that).
        adviseHugePages(covering: UnsafeMutableRawBufferPointer(start: fresh, count: newCapacity))
        base = fresh
        capacity = newCapacity
    }

    deinit { freeMemory(base) }
}
