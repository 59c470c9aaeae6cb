/// The byte stream shared by every container of one encoding, and the stack of open containers.
///
/// Containers in Swift's `Encoder` API are never explicitly finished, so a container is closed
/// (its end marker written) when a write arrives for a container further out, or when the
/// `encode(to:)` that opened it returns. Writes are therefore strictly sequential, which lets the
/// same code write into a buffer or stream into a hash without ever going back.
final class EncodingState {
    // One encoding runs on one thread and never re-enters these properties while modifying them,
    // so the dynamic exclusivity checks (a measurable share of encoding small records) are off.

    /// The bytes written so far, but for the last few still in `stage`.
    @exclusivity(unchecked) private var storage: [UInt8] = []
    /// Small writes land here first, as plain stores, and move to `storage` a block at a time:
    /// cheaper than an array append (uniqueness and capacity checks) per tag and number.
    private let stage = UnsafeMutablePointer<UInt8>.allocate(capacity: EncodingState.stageCapacity)
    @exclusivity(unchecked) private var staged = 0
    private static let stageCapacity = 1024
    /// Writes at most this long go through the stage; longer ones go to `storage` directly.
    private static let stagedWriteLimit = 256
    /// Bytes already handed to `stream` and dropped from `storage`.
    @exclusivity(unchecked) private var flushedCount = 0
    @exclusivity(unchecked) private var openContainers: [Int] = []
    @exclusivity(unchecked) private var nextContainerID = 1
    /// Encoders whose value is finished and that nobody else holds, ready for the next value.
    /// The list owns one reference to each, by hand (`Unmanaged`): moving an encoder in and out
    /// then costs no reference counting.
    @exclusivity(unchecked) private var freeEncoders: Unmanaged<BinaryValueEncoder>?
    @exclusivity(unchecked) private var typeFlags = TypeFlagsCache()
    /// Keyed containers handed to one value after another (`BinaryValueEncoder.container`).
    @exclusivity(unchecked) var keyedContainers = KeyedContainerCache<EncoderSlot>()
    /// Dictionaries and sets are written sorted, so equal values give equal bytes (hashing).
    let canonical: Bool
    /// Whether the bytes are hashed (`finishHashing`) rather than kept.
    let hashing: Bool
    /// The incremental hash, made only once an encoding outgrows 64 KiB: a small one (a cache
    /// key) is hashed in one call at the end, without allocating the 576-byte stream state.
    @exclusivity(unchecked) private var stream: XXH3Stream?
    let sections: (any BulkSectionWriter)?
    let userInfo: [CodingUserInfoKey: any Sendable]

    init(
        canonical: Bool, hashing: Bool, sections: (any BulkSectionWriter)?,
        userInfo: [CodingUserInfoKey: any Sendable] = [:]
    ) {
        self.canonical = canonical
        self.hashing = hashing
        self.sections = sections
        self.userInfo = userInfo
    }

    deinit { stage.deallocate() }

    /// Makes the state ready for a new hashing run, keeping its buffers and spare encoders
    /// (`HashingStatePool`). Only for a state whose last run ended without throwing.
    func resetForReuse() {
        storage.removeAll(keepingCapacity: true)
        staged = 0
        flushedCount = 0
        openContainers.removeAll(keepingCapacity: true)
        nextContainerID = 1
        stream = nil
        keyedContainers.releaseAll()
    }

    /// The capacity of the byte buffer, for the pool's size limit.
    var bufferCapacity: Int { storage.capacity }

    /// Drops the spare encoders (they refer back to the state); call when the encoding is over.
    func finish() {
        // The kept containers refer back to the state.
        keyedContainers.removeAll()
        while let top = freeEncoders {
            let encoder = top.takeRetainedValue()
            freeEncoders = encoder.nextFree
            encoder.nextFree = nil
        }
    }

    /// Everything written (but what was handed to the hash stream).
    var bytes: [UInt8] {
        drainStage()
        return storage
    }

    var totalWritten: Int { flushedCount + storage.count + staged }

    // MARK: Writing bytes

    /// Room for `count` (at most `stagedWriteLimit`) bytes at the end of the stage; the caller
    /// writes them and adds `count` to `staged`.
    @inline(__always) private func reserve(_ count: Int) -> UnsafeMutablePointer<UInt8> {
        if staged + count > Self.stageCapacity { drainStage() }
        return stage + staged
    }

    private func drainStage() {
        guard staged > 0 else { return }
        storage.append(contentsOf: UnsafeBufferPointer(start: stage, count: staged))
        staged = 0
    }

    @inline(__always) func append(_ byte: UInt8) {
        reserve(1).pointee = byte
        staged += 1
    }

    @inline(__always) func append(_ tag: Tag) { append(tag.rawValue) }

    func append(raw: UnsafeRawBufferPointer) {
        if hashing, raw.count >= 1 << 16 {
            let stream = hashStream()
            flush(into: stream)
            stream.update(raw)
            flushedCount += raw.count
        } else if raw.count <= Self.stagedWriteLimit {
            guard let source = raw.baseAddress else { return }
            reserve(raw.count).update(from: source.assumingMemoryBound(to: UInt8.self), count: raw.count)
            staged += raw.count
        } else {
            drainStage()
            storage.append(contentsOf: raw)
        }
    }

    @inline(__always) func appendFixed<T: FixedWidthInteger>(_ value: T) {
        UnsafeMutableRawPointer(reserve(MemoryLayout<T>.size)).storeBytes(of: value.littleEndian, as: T.self)
        staged += MemoryLayout<T>.size
    }

    /// A tag and a fixed-width number, in one reservation.
    @inline(__always) func appendTagged<T: FixedWidthInteger>(_ tag: Tag, _ value: T) {
        let target = reserve(1 + MemoryLayout<T>.size)
        target.pointee = tag.rawValue
        UnsafeMutableRawPointer(target + 1).storeBytes(of: value.littleEndian, as: T.self)
        staged += 1 + MemoryLayout<T>.size
    }

    @inline(__always) func appendVarint(_ value: UInt64) {
        let target = reserve(10)
        var value = value
        var count = 0
        while value >= 0x80 {
            target[count] = UInt8(truncatingIfNeeded: value) | 0x80
            value >>= 7
            count += 1
        }
        target[count] = UInt8(value)
        staged += count + 1
    }

    func appendString(_ string: String) {
        var string = string
        string.withUTF8 { utf8 in
            appendVarint(UInt64(utf8.count))
            append(raw: UnsafeRawBufferPointer(utf8))
        }
    }

    /// Hands buffered bytes to the hash stream once they are many, to keep memory flat while hashing.
    func flushIfLarge() {
        if hashing, storage.count >= 1 << 16 { flush(into: hashStream()) }
    }

    private func hashStream() -> XXH3Stream {
        if let stream { return stream }
        let made = XXH3Stream()
        stream = made
        return made
    }

    private func flush(into hasher: XXH3Stream) {
        drainStage()
        guard !storage.isEmpty else { return }
        storage.withUnsafeBytes { hasher.update($0) }
        flushedCount += storage.count
        storage.removeAll(keepingCapacity: true)
    }

    /// The digest of everything written (the end of a hashing run). XXH3-128 gives the same
    /// digest in one call as streamed, so a run that never needed the stream hashes its buffer.
    func finishHashing() -> HashDigest {
        guard let stream else {
            drainStage()
            return storage.withUnsafeBytes { xxh3Digest($0) }
        }
        flush(into: stream)
        return stream.digest()
    }

    // MARK: Containers

    func openContainer(_ tag: Tag) -> Int {
        append(tag)
        let id = nextContainerID
        nextContainerID += 1
        openContainers.append(id)
        return id
    }

    /// Closes every container opened after `id`, then writes an entry marker into `id`.
    @inline(__always) func beginEntry(in id: Int, codingPath: @autoclosure () -> [any CodingKey]) throws {
        if openContainers.last == id {
            append(entryMarker)
        } else {
            try closeAndBeginEntry(in: id, codingPath: codingPath())
        }
    }

    private func closeAndBeginEntry(in id: Int, codingPath: @autoclosure () -> [any CodingKey]) throws {
        while let last = openContainers.last, last != id {
            openContainers.removeLast()
            append(endMarker)
        }
        guard !openContainers.isEmpty else {
            throw CodingError(
                .invalidEncoding,
                "a value was written into a container after the value that owns it finished encoding",
                codingPath: codingPath())
        }
        append(entryMarker)
    }

    var openDepth: Int { openContainers.count }

    func closeContainers(downTo depth: Int) {
        while openContainers.count > depth {
            openContainers.removeLast()
            append(endMarker)
        }
    }

    // MARK: Values

    /// An encoder for a value at `path`: a spare one if there is one.
    @inline(__always) func makeEncoder(path: CodingPath) -> BinaryValueEncoder {
        guard let top = freeEncoders else { return BinaryValueEncoder(state: self, path: path) }
        let encoder = top.takeRetainedValue()
        freeEncoders = encoder.nextFree
        encoder.nextFree = nil
        encoder.reset(path: path)
        return encoder
    }

    /// Keeps `encoder` for the next value unless something else still holds it.
    @inline(__always) func recycle(_ encoder: inout BinaryValueEncoder) {
        guard isKnownUniquelyReferenced(&encoder) else { return }
        encoder.nextFree = freeEncoders
        freeEncoders = Unmanaged.passRetained(encoder)
    }

    func encodeValue<T: Encodable>(_ value: T, path: CodingPath) throws {
        let flags = typeFlags.flags(for: T.self, TypeFlagsCache.classify)
        if flags & TypeFlagsCache.bulk != 0, let bulk = value as? any BulkArrayCodable {
            try encodeBulk(bulk)
            return
        }
        if canonical, flags & TypeFlagsCache.unordered != 0, let unordered = value as? any CanonicallyUnordered {
            try encodeUnordered(unordered, codingPath: path.keys)
            return
        }
        let depth = openDepth
        let mark = totalWritten
        var encoder = makeEncoder(path: path)
        do {
            try value.encode(to: encoder)
        } catch {
            if let slot = encoder.heldSlot { slot.release() }
            throw error
        }
        if let slot = encoder.heldSlot { slot.release() }
        recycle(&encoder)
        closeContainers(downTo: depth)
        if totalWritten == mark {
            // The value wrote nothing (an empty type): store an empty container so it has bytes.
            append(.keyed)
            append(endMarker)
        }
        flushIfLarge()
    }

    private func encodeBulk<B: BulkArrayCodable>(_ array: B) throws {
        let elementType = B.bulkElementType
        let count = array.bulkCount
        if let sections, let number = try array.withBulkBytes({
            try sections.storeSection($0, elementType: elementType, count: count, owner: array)
        }) {
            append(.bulkSection)
            append(elementType.code)
            appendVarint(UInt64(count))
            appendVarint(number)
            return
        }
        append(.bulk)
        append(elementType.code)
        appendVarint(UInt64(count))
        array.withBulkBytes { append(raw: $0) }
    }

    private func encodeUnordered(_ value: any CanonicallyUnordered, codingPath: [any CodingKey]) throws {
        var entries = try value.canonicalEntries(codingPath: codingPath)
        entries.sort { $0.lexicographicallyPrecedes($1) }
        append(.unordered)
        for entry in entries {
            append(entryMarker)
            entry.withUnsafeBytes { append(raw: $0) }
            flushIfLarge()
        }
        append(endMarker)
    }
}

/// Dictionaries and sets: in canonical mode their entries are encoded one by one and sorted.
protocol CanonicallyUnordered {
    func canonicalEntries(codingPath: [any CodingKey]) throws -> [[UInt8]]
}

/// One value in canonical form, on its own (the bytes of one dictionary entry or set element).
func canonicalBytes<T: Encodable>(_ value: T, codingPath: [any CodingKey]) throws -> [UInt8] {
    let state = EncodingState(canonical: true, hashing: false, sections: nil)
    defer { state.finish() }
    try state.encodeValue(value, path: CodingPath(codingPath))
    return state.bytes
}

extension Dictionary: CanonicallyUnordered where Key: Encodable, Value: Encodable {
    func canonicalEntries(codingPath: [any CodingKey]) throws -> [[UInt8]] {
        try map { key, value in
            try canonicalBytes(key, codingPath: codingPath) + canonicalBytes(value, codingPath: codingPath)
        }
    }
}

extension Set: CanonicallyUnordered where Element: Encodable {
    func canonicalEntries(codingPath: [any CodingKey]) throws -> [[UInt8]] {
        try map { try canonicalBytes($0, codingPath: codingPath) }
    }
}
