import JoblibCoding
import JoblibSystem

/// The elements of an ``NDArray``: memory it allocated, or a view into memory kept alive by an
/// owner (a file mapping, a decompressed buffer).
final class NDArrayStorage<Element: BulkCodable>: @unchecked Sendable {
    // @unchecked: the elements are only written through `NDArray`'s mutating members, which first
    // make the storage uniquely referenced (copy-on-write), exactly as `Array` does; shared
    // storage is read-only. `owner` is only retained.
    let base: UnsafeMutablePointer<Element>?
    let count: Int
    /// What keeps `base` alive; nil when this object allocated `base` and frees it.
    let owner: AnyObject?
    /// Whether the elements may be changed in place (false for read-only mappings).
    let writable: Bool

    /// Storage of `count` elements, initialised by `body` (which must initialise all of them).
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
        do {
            try body(UnsafeMutableBufferPointer(start: base, count: count))
        } catch {
            base.deallocate()
            throw error
        }
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

    var buffer: UnsafeBufferPointer<Element> { UnsafeBufferPointer(start: base, count: count) }

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
