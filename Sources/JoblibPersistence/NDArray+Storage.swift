import JoblibCoding
import JoblibSystem

/// The elements of an ``NDArray``: memory it allocated, or a view into memory kept alive by an
/// owner (a file mapping, a decompressed buffer).
/// `@usableFromInline` with `base`, `count`, `writable` and `buffer`: `NDArray`'s inlinable
/// element accessors read them in the client's module.
@usableFromInline
final class NDArrayStorage<Element: BulkCodable>: @unchecked Sendable {
    // @unchecked: the elements are only written through `NDArray`'s mutating members, which first
    // make the storage uniquely referenced (copy-on-write), exactly as `Array` does; shared
    // storage is read-only. `owner` is only retained.
    @usableFromInline let base: UnsafeMutablePointer<Element>?
    @usableFromInline let count: Int
    /// What keeps `base` alive; nil when this object allocated `base` and frees it.
    let owner: AnyObject?
    /// Whether the elements may be changed in place (false for read-only mappings).
    @usableFromInline let writable: Bool

    /// Storage of `count` elements, initialised by `body` (which must initialise all of them).
    @usableFromInline
    init(count: Int, _ body: (UnsafeMutableBufferPointer<Element>) throws -> Void) rethrows {
        self.count = count
        owner = nil
        writable = true
        guard count > 0 else {
            base = nil
            return
        }
        let base = UnsafeMutablePointer<Element>.allocate(capacity: count)
        self.base = base
        // Every stored property is set: if `body` throws, `deinit` runs and frees `base` (the
        // elements are plain numbers, nothing to deinitialise).
        try body(UnsafeMutableBufferPointer(start: base, count: count))
    }

    /// A copy of `elements`.
    convenience init(copying elements: UnsafeRawBufferPointer, count: Int) {
        self.init(count: count) { buffer in
            if count > 0 { UnsafeMutableRawBufferPointer(buffer).copyMemory(from: elements) }
        }
    }

    /// A view of memory that `owner` keeps alive.
    init(viewing base: UnsafeMutablePointer<Element>, count: Int, owner: AnyObject, writable: Bool) {
        self.base = base
        self.count = count
        self.owner = owner
        self.writable = writable
    }

    @inlinable var buffer: UnsafeBufferPointer<Element> { UnsafeBufferPointer(start: base, count: count) }

    var isMapped: Bool { owner is MemoryMapping }

    deinit {
        if owner == nil { base?.deallocate() }
    }
}

/// The elements of an ``NDArray`` as the coders see them: a bulk array of numbers, stored by
/// `dump` as an aligned section and, when loading with a mapping, kept in place.
struct NDArrayElements<Element: BulkCodable>: BulkArrayCodable, Codable {
    var storage: NDArrayStorage<Element>

    init(_ storage: NDArrayStorage<Element>) { self.storage = storage }

    static var bulkElementType: BulkElementType { Element.bulkElementType }

    static var hasBulkLayout: Bool {
        MemoryLayout<Element>.size == Element.bulkElementType.byteWidth
            && MemoryLayout<Element>.stride == Element.bulkElementType.byteWidth
    }

    var bulkCount: Int { storage.count }

    /// Elements of a mapping are viewed in place, not copied.
    static var copiesBulkBytes: Bool { false }

    func withBulkBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(storage) { try body(UnsafeRawBufferPointer(storage.buffer)) }
    }

    static func fromBulkBytes(_ bytes: UnsafeRawBufferPointer, count: Int, owner: AnyObject?) -> NDArrayElements {
        if let owner, count > 0, let address = bytes.baseAddress,
           Int(bitPattern: address) % MemoryLayout<Element>.alignment == 0 {
            let writable: Bool
            switch owner {
            case let mapping as MemoryMapping: writable = mapping.access != .readOnly
            case is ByteBuffer: writable = true
            // A large output of a worker process: a shared memory file of the parent's own now.
            case is SharedMemoryBlock: writable = true
            default: return NDArrayElements(NDArrayStorage(copying: bytes, count: count))
            }
            let base = UnsafeMutableRawPointer(mutating: address).assumingMemoryBound(to: Element.self)
            return NDArrayElements(NDArrayStorage(viewing: base, count: count, owner: owner, writable: writable))
        }
        return NDArrayElements(NDArrayStorage(copying: bytes, count: count))
    }

    // Other coders (JSON, property lists) see a plain array of numbers.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(Array(storage.buffer))
    }

    init(from decoder: any Decoder) throws {
        let elements = try decoder.singleValueContainer().decode([Element].self)
        storage = elements.withUnsafeBytes { NDArrayStorage(copying: $0, count: elements.count) }
    }
}

extension NDArray {
    /// An array of the given shape, every element `value`, whose elements live in shared memory
    /// from the start: handing it to `.processes` workers copies nothing (they map the same
    /// memory read-only), where any other large argument is first copied into shared memory.
    ///
    /// Big data that crosses processes belongs here. The memory is an anonymous memory file
    /// (nothing appears in any file system) freed with the last copy of the array. Mutating the
    /// array in place writes to the shared memory; a copy-on-write copy (mutating a copy that
    /// shares the storage, such as one a running task holds) lives in ordinary memory.
    ///
    /// - Throws: ``PersistenceError`` with code ``PersistenceError/Code/invalidArgument`` when
    ///   a dimension is negative or the size overflows, and ``PersistenceError/Code/outOfMemory``
    ///   when the system cannot provide the shared memory.
    public init(sharedShape shape: [Int], repeating value: Element) throws(PersistenceError) {
        guard let count = Self.elementCount(of: shape),
              count.multipliedReportingOverflow(by: MemoryLayout<Element>.stride).overflow == false
        else {
            throw PersistenceError(.invalidArgument, "NDArray shape \(shape) is invalid: use non-negative dimensions whose product fits in memory")
        }
        let block: SharedMemoryBlock
        do {
            block = try SharedMemoryBlock(count: count * MemoryLayout<Element>.stride, name: "joblib-ndarray")
        } catch {
            throw PersistenceError(
                .outOfMemory, "could not create \(count * MemoryLayout<Element>.stride) bytes of shared memory for an NDArray (\(error)); "
                    + "free memory or use a smaller array", underlying: error)
        }
        let base = block.mapping.mutableBytes.baseAddress!.bindMemory(to: Element.self, capacity: Swift.max(count, 1))
        if count > 0 { base.initialize(repeating: value, count: count) }
        self.init(shape: shape, storage: NDArrayStorage(viewing: base, count: count, owner: block, writable: true))
    }

    /// Whether the elements live in shared memory (``init(sharedShape:repeating:)``), so that
    /// worker processes use them without a copy.
    public var isInSharedMemory: Bool { storage.owner is SharedMemoryBlock }
}
