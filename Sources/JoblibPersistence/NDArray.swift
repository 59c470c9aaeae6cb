import JoblibCoding

/// An n-dimensional array of numbers: a shape and contiguous row-major (C-order) storage,
/// held in memory or memory-mapped from a file.
///
/// ```swift
/// var a = NDArray(shape: [2, 3], [1.0, 2, 3, 4, 5, 6])
/// a[[1, 2]] = 60                       // row 1, column 2
/// let total = a.reduce(0, +)           // a RandomAccessCollection of elements in row-major order
/// try dump(a, to: "a.joblib")
/// let mapped = try load(NDArray<Double>.self, from: "a.joblib", mapping: .readOnly)
/// ```
///
/// `NDArray` is a value type with copy-on-write storage, like `Array`. `dump` stores its elements
/// as one raw aligned section; `load(…, mapping:)` maps that section instead of reading it, so
/// loading a large array is O(1). A mapped array follows its ``MappingMode``: mutating a
/// `.readOnly` one copies it into memory first; `.copyOnWrite` changes stay private; `.readWrite`
/// changes reach the file (while the array is not copied: a copy that is then mutated gets its
/// own memory, as with any value).
///
/// Big data that crosses processes belongs in an `NDArray`: `.processes` workers use its elements
/// where they lie in shared memory instead of copying them, and one created with
/// ``init(sharedShape:repeating:)`` is not even copied into shared memory first.
public struct NDArray<Element: BulkCodable>: Sendable {
    /// The length of each dimension, outermost first; the product is ``count``.
    public private(set) var shape: [Int]
    // @usableFromInline (not public): the element accessors below are @inlinable so that a
    // client's loop over an NDArray is specialised and vectorised in the client's module, as
    // over an Array; they reach the elements through this.
    @usableFromInline var storage: NDArrayStorage<Element>

    /// An array of the given shape holding `elements` in row-major order.
    ///
    /// - Precondition: every dimension is non-negative and their product is `elements.count`.
    public init(shape: [Int], _ elements: [Element]) {
        precondition(
            Self.elementCount(of: shape) == elements.count,
            "NDArray shape \(shape) needs \(Self.elementCount(of: shape).map(String.init) ?? "an impossible number of") elements, got \(elements.count)")
        self.shape = shape
        storage = elements.withUnsafeBytes { NDArrayStorage(copying: $0, count: elements.count) }
    }

    /// A one-dimensional array of `elements`.
    public init(_ elements: [Element]) {
        self.init(shape: [elements.count], elements)
    }

    /// An array of the given shape with every element equal to `value`.
    ///
    /// - Precondition: every dimension is non-negative and the product fits in `Int`.
    public init(repeating value: Element, shape: [Int]) {
        guard let count = Self.elementCount(of: shape) else { preconditionFailure("NDArray shape \(shape) is invalid") }
        self.shape = shape
        storage = NDArrayStorage(count: count) { $0.initialize(repeating: value) }
    }

    /// An array of the given shape whose elements are made in place, in row-major order, by
    /// `element`, which gets each element's position (from 0 to ``count`` - 1): no `[Element]` is
    /// built first and copied.
    ///
    /// ```swift
    /// let ramp = NDArray<Double>(shape: [1_000_000]) { Double($0) * 0.5 }
    /// let grid = NDArray<Float>(shape: [rows, columns]) { Float($0 / columns) }  // the row
    /// ```
    ///
    /// - Precondition: every dimension is non-negative and the product fits in `Int`.
    /// - Throws: what `element` throws; the array is then not made.
    @inlinable
    public init(shape: [Int], _ element: (_ position: Int) throws -> Element) rethrows {
        guard let count = Self.elementCount(of: shape) else { preconditionFailure("NDArray shape \(shape) is invalid") }
        let storage = try NDArrayStorage<Element>(count: count) { buffer in
            for position in 0..<count { buffer.initializeElement(at: position, to: try element(position)) }
        }
        self.init(shape: shape, storage: storage)
    }

    @usableFromInline
    init(shape: [Int], storage: NDArrayStorage<Element>) {
        self.shape = shape
        self.storage = storage
    }

    /// The number of elements a shape holds, or nil when a dimension is negative or the product overflows.
    @usableFromInline
    static func elementCount(of shape: [Int]) -> Int? {
        var product = 1
        for dimension in shape {
            guard dimension >= 0 else { return nil }
            let (next, overflow) = product.multipliedReportingOverflow(by: dimension)
            guard !overflow else { return nil }
            product = next
        }
        return product
    }

    /// Whether the elements live in a memory-mapped file.
    public var isMemoryMapped: Bool { storage.isMapped }

    /// The element at a multi-dimensional index (one entry per dimension).
    ///
    /// - Precondition: `indices.count == shape.count` and each index is within its dimension
    ///   (checked in every build: it traps with a message naming the index and the shape).
    @inlinable
    public subscript(_ indices: [Int]) -> Element {
        get { self[flatIndex(indices)] }
        set { self[flatIndex(indices)] = newValue }
    }

    @inlinable
    func flatIndex(_ indices: [Int]) -> Int {
        guard indices.count == shape.count else { Self.trap(indices, doesNotMatch: shape) }
        var flat = 0
        for (index, dimension) in zip(indices, shape) {
            guard index >= 0 && index < dimension else { Self.trap(indices, isOutOfBoundsFor: shape) }
            flat = flat * dimension + index
        }
        return flat
    }

    // The traps of the index checks, with their messages in every build: the checks are inlined
    // into the caller's code, where an optimised build would drop a `precondition`'s message.
    // Out of line, so the message costs the inlined check nothing (`objdump`: the same loop).

    @usableFromInline @inline(never)
    static func trap(_ position: Int, isOutOfRange count: Int) -> Never {
        fatalError("NDArray index \(position) is out of range 0..<\(count)")
    }

    @usableFromInline @inline(never)
    static func trap(_ indices: [Int], isOutOfBoundsFor shape: [Int]) -> Never {
        fatalError("NDArray index \(indices) is out of bounds for shape \(shape)")
    }

    @usableFromInline @inline(never)
    static func trap(_ indices: [Int], doesNotMatch shape: [Int]) -> Never {
        fatalError("NDArray index \(indices) does not match shape \(shape)")
    }

    /// The same elements with another shape of the same element count.
    ///
    /// - Precondition: the new shape holds exactly ``count`` elements.
    public func reshaped(_ newShape: [Int]) -> NDArray {
        precondition(Self.elementCount(of: newShape) == count, "cannot reshape \(shape) to \(newShape)")
        return NDArray(shape: newShape, storage: storage)
    }

    /// Calls `body` with the elements in row-major order.
    @inlinable
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Element>) throws -> R) rethrows -> R {
        try withExtendedLifetime(storage) { try body(storage.buffer) }
    }

    /// Calls `body` with the elements in row-major order, writable (a mapped `.readWrite`
    /// array writes to its file; a `.readOnly` one is copied into memory first).
    @inlinable
    public mutating func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Element>) throws -> R) rethrows -> R {
        makeUniqueAndWritable()
        return try withExtendedLifetime(storage) {
            try body(UnsafeMutableBufferPointer(start: storage.base, count: storage.count))
        }
    }

    /// Makes the storage this array's own and writable; the check is inlined into every write,
    /// the copy is not.
    @inlinable
    mutating func makeUniqueAndWritable() {
        if !isKnownUniquelyReferenced(&storage) || !storage.writable { copyStorage() }
    }

    @usableFromInline
    mutating func copyStorage() {
        storage = NDArrayStorage(copying: UnsafeRawBufferPointer(storage.buffer), count: storage.count)
    }
}

extension NDArray: RandomAccessCollection, MutableCollection {
    /// Elements are indexed by their position in row-major order, from 0.
    public typealias Index = Int

    /// Always 0.
    @inlinable public var startIndex: Int { 0 }
    /// The number of elements.
    @inlinable public var endIndex: Int { storage.count }
    /// The number of elements.
    @inlinable public var count: Int { storage.count }
    /// The position after `i`.
    @inlinable public func index(after i: Int) -> Int { i + 1 }
    /// The position before `i`.
    @inlinable public func index(before i: Int) -> Int { i - 1 }
    /// `0..<count`.
    @inlinable public var indices: Range<Int> { 0..<storage.count }

    /// The element at `position` in row-major order.
    ///
    /// - Precondition: `0 <= position < count` (checked in every build: it traps with a message
    ///   naming the position and the range).
    @inlinable
    public subscript(position: Int) -> Element {
        get {
            guard position >= 0 && position < storage.count else { Self.trap(position, isOutOfRange: storage.count) }
            return storage.base![position]
        }
        set {
            guard position >= 0 && position < storage.count else { Self.trap(position, isOutOfRange: storage.count) }
            makeUniqueAndWritable()
            storage.base![position] = newValue
        }
    }

    /// Calls `body` with the elements in row-major order, contiguous in memory (always available).
    @inlinable
    public func withContiguousStorageIfAvailable<R>(_ body: (UnsafeBufferPointer<Element>) throws -> R) rethrows -> R? {
        try withUnsafeBufferPointer(body)
    }
}

extension NDArray: Equatable where Element: Equatable {
    /// Equal shapes and equal elements.
    public static func == (lhs: NDArray, rhs: NDArray) -> Bool {
        lhs.shape == rhs.shape && lhs.elementsEqual(rhs)
    }
}

extension NDArray: CustomStringConvertible {
    /// The shape and the first elements.
    public var description: String {
        let shown = prefix(8).map { "\($0)" }.joined(separator: ", ")
        return "NDArray<\(Element.self)>(shape: \(shape), [\(shown)\(count > 8 ? ", …" : "")])"
    }
}

extension NDArray: Codable {
    private enum CodingKeys: String, CodingKey { case shape, elements }

    /// Encodes the shape and the elements (a raw section in `dump`'s files, whatever their size,
    /// so that a `.readWrite` load can map them).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(shape, forKey: .shape)
        let requests = encoder.userInfo[.joblibSectionRequests] as? SectionRequests
        requests?.mappableNext = true
        defer { requests?.mappableNext = false }
        try container.encode(NDArrayElements(storage), forKey: .elements)
    }

    /// Decodes an array, checking that the shape matches the element count.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let shape = try container.decode([Int].self, forKey: .shape)
        let elements = try container.decode(NDArrayElements<Element>.self, forKey: .elements)
        guard Self.elementCount(of: shape) == elements.storage.count else {
            throw DecodingError.dataCorruptedError(
                forKey: .shape, in: container,
                debugDescription: "shape \(shape) does not hold the \(elements.storage.count) stored elements")
        }
        if decoder.userInfo[.joblibMapping] as? MappingMode == .readWrite, elements.storage.count > 0, !elements.storage.isMapped {
            // Files written before format version 2 keep arrays under 512 bytes inline in the
            // value: a copy is all a load can give, and writes to it would be silently lost.
            let path = decoder.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            throw PersistenceError(
                .unsupportedFeature,
                "the NDArray\(path.isEmpty ? "" : " at \(path)") (\(elements.storage.count * MemoryLayout<Element>.stride) bytes) is stored inline in this file, which an older version wrote, so a .readWrite mapping cannot reach it: dump the value again with this version, or load it with .copyOnWrite or without mapping")
        }
        self.init(shape: shape, storage: elements.storage)
    }
}
