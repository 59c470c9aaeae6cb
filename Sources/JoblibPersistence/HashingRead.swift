import JoblibCoding
import JoblibSystem
import SystemPackage

// Reading an uncompressed container into memory while its array sections are hashed: the
// checksum pass of `load` without a second trip through memory.

/// Reads a whole uncompressed container into `space` (the file's size) and hashes its array
/// sections on the way, piece by piece while each piece is still in cache: the checksum pass then
/// costs no second trip through memory. Returns the bytes read and the digests by section offset.
///
/// The trailer and section table, at the end of the file, are read first to learn where the
/// sections are. Nothing read here is trusted: `parseContainer` checks the whole buffer afterwards,
/// and a digest is only used for a section whose checked offset and length match the range hashed.
/// A file whose table does not make sense here is simply read whole, without digests.
func readHashingSections(
    _ fd: FileDescriptor, into space: UnsafeMutableRawBufferPointer
) throws -> (count: Int, digests: [Int: (byteCount: Int, digest: HashDigest)]) {
    let size = space.count
    func readAll() throws -> (count: Int, digests: [Int: (byteCount: Int, digest: HashDigest)]) {
        (try fd.readFully(into: space, at: 0), [:])
    }
    guard size >= preambleSize + trailerSize else { return try readAll() }
    let trailerStart = size - trailerSize
    guard try fd.readFully(into: UnsafeMutableRawBufferPointer(rebasing: space[trailerStart...]), at: trailerStart) == trailerSize
    else { return try readAll() }
    let bytes = UnsafeRawBufferPointer(space)
    // Fields that do not fit an Int (`try?`) are left for parseContainer to report, like any other
    // inconsistency: here they only mean "read the file whole".
    guard let trailer = try? Trailer(fieldsIn: bytes, at: trailerStart),
          trailer.valueOffset >= preambleSize, trailer.valueOffset <= trailer.tableOffset, trailer.tableOffset <= trailerStart,
          trailer.sectionCount <= (trailerStart - trailer.tableOffset) / sectionEntrySize
    else { return try readAll() }
    let metadataStart = trailer.valueOffset
    guard try fd.readFully(into: UnsafeMutableRawBufferPointer(rebasing: space[metadataStart..<trailerStart]), at: metadataStart)
        == trailerStart - metadataStart
    else { return try readAll() }

    // The sections as the table describes them, in file order, within the part still to read.
    var sections: [(offset: Int, end: Int)] = []
    var previousEnd = 0
    for index in 0..<trailer.sectionCount {
        guard let (offset, byteCount) = try? sectionSpan(in: bytes, tableOffset: trailer.tableOffset, index: index),
              offset >= previousEnd, offset <= metadataStart, byteCount <= metadataStart - offset
        else { return try readAll() }
        sections.append((offset, offset + byteCount))
        previousEnd = offset + byteCount
    }

    // Read the front in pieces and hash the section bytes of each piece while it is still in
    // cache: on a second thread that follows the reads when the file is large and there is a
    // second CPU (the hash then costs no time), else right after each read.
    let hasher = SectionHasher(bytes: UnsafeRawBufferPointer(rebasing: bytes[..<metadataStart]), sections: sections)
    let helper = metadataStart >= 32 << 20 && usableCPUCount() > 1 ? HashingThread(hasher) : nil
    defer { helper?.finish() }
    let piece = 2 << 20
    var position = 0
    while position < metadataStart {
        let end = min(position + piece, metadataStart)
        let got = try fd.readFully(into: UnsafeMutableRawBufferPointer(rebasing: space[position..<end]), at: position)
        guard got == end - position else { return (position + got, [:]) }  // shorter than its size: parse reports it
        position = end
        if let helper { helper.readable(upTo: end) } else { hasher.hash(upTo: end) }
    }
    helper?.finish()
    return (size, hasher.digests)
}

/// Hashes array sections of a buffer as it is filled front to back (see `readHashingSections`).
private final class SectionHasher: @unchecked Sendable {
    // @unchecked: used by one thread at a time, handed over under `HashingThread`'s lock.
    private let bytes: UnsafeRawBufferPointer
    private let sections: [(offset: Int, end: Int)]
    private var next = 0  // the first section not completely hashed
    private var stream: XXH3Stream?
    private var hashed = 0
    private(set) var digests: [Int: (byteCount: Int, digest: HashDigest)] = [:]

    init(bytes: UnsafeRawBufferPointer, sections: [(offset: Int, end: Int)]) {
        self.bytes = bytes
        self.sections = sections
    }

    /// Hashes the section bytes in `hashed..<end`, which the caller has filled.
    func hash(upTo end: Int) {
        while next < sections.count, sections[next].offset < end || sections[next].end <= end {
            let (start, stop) = sections[next]
            let from = max(start, hashed), to = min(stop, end)
            if from < to {
                if stream == nil { stream = XXH3Stream() }
                stream!.update(UnsafeRawBufferPointer(rebasing: bytes[from..<to]))
            }
            guard stop <= end else { break }
            digests[start] = (stop - start, stream?.digest() ?? xxh3Digest(UnsafeRawBufferPointer(rebasing: bytes[start..<start])))
            stream = nil
            next += 1
        }
        hashed = max(hashed, end)
    }
}

/// A thread that runs a `SectionHasher` behind the reads of another.
private final class HashingThread: Sendable {
    /// How far the buffer is filled, whether the reader is done, whether the thread still runs.
    private let state = ConditionLock((readable: 0, stopping: false, running: true))

    init?(_ hasher: SectionHasher) {
        do {
            try startDetachedThread(name: "joblib-hash") { [state] in
                var hashed = 0
                while let target = Self.nextTarget(state, after: hashed) {
                    hasher.hash(upTo: target)
                    hashed = target
                }
                state.withLock { locked in
                    locked.state.running = false
                    locked.broadcast()
                }
            }
        } catch {
            return nil
        }
    }

    /// Waits until more than `hashed` bytes are readable (returns how many) or the reader is
    /// done with nothing left (nil).
    private static func nextTarget(
        _ state: ConditionLock<(readable: Int, stopping: Bool, running: Bool)>, after hashed: Int
    ) -> Int? {
        state.withLock { locked in
            while locked.state.readable == hashed && !locked.state.stopping { locked.wait() }
            return locked.state.readable > hashed ? locked.state.readable : nil
        }
    }

    /// Tells the thread that the buffer is filled up to `end`.
    func readable(upTo end: Int) {
        state.withLock { locked in
            locked.state.readable = end
            locked.broadcast()
        }
    }

    /// Waits until the thread has hashed everything readable and ended; call before using the
    /// digests and before the buffer may go away. Idempotent.
    func finish() {
        state.withLock { locked in
            locked.state.stopping = true
            locked.broadcast()
            while locked.state.running { locked.wait() }
        }
    }
}
