import JoblibCoding
import JoblibSystem

/// A numpy array read from a pickle, or to be written to one: data type, shape, memory order
/// and the elements' bytes exactly as stored.
///
/// Arrays that Python's joblib wrote through its `NumpyArrayWrapper` keep their bytes in place:
/// in the file's memory mapping when loaded with `mapping:`, or in the buffer the file was read
/// into. Convert with ``values(as:)``, walk with ``elements``, or decode straight into an
/// `NDArray` or `[Double]` with `load(_:from:)`.
public struct NumpyArray: Sendable {
    /// The data type of the elements.
    public var dtype: NumpyDType
    /// The length of each dimension, outermost first; `[]` for a 0-d array (one element).
    public var shape: [Int]
    /// Whether the bytes are in column-major (Fortran) order rather than row-major (C) order.
    public var isFortranOrder: Bool
    /// The array's Python class, `numpy.ndarray` unless it was a subclass (`numpy.memmap`…).
    public var className: String
    package var buffer: NumpyBuffer

    package init(dtype: NumpyDType, shape: [Int], isFortranOrder: Bool = false, className: String = "numpy.ndarray", buffer: NumpyBuffer) {
        self.dtype = dtype
        self.shape = shape
        self.isFortranOrder = isFortranOrder
        self.className = className
        self.buffer = buffer
    }

    /// A little-endian, row-major array of `values` with the given shape.
    ///
    /// - Precondition: the shape holds `values.count` elements.
    public init<T: BulkCodable>(shape: [Int], _ values: [T]) {
        precondition(Self.elementCount(shape) == values.count, "shape \(shape) does not hold \(values.count) elements")
        self.init(dtype: NumpyDType(T.bulkElementType), shape: shape, buffer: values.withUnsafeBytes { NumpyBuffer(copying: $0) })
    }

    /// The number of elements (the product of ``shape``; 1 for a 0-d array).
    public var count: Int { Self.elementCount(shape) ?? 0 }

    /// Whether the bytes are a view of a memory-mapped file.
    public var isMemoryMapped: Bool { buffer.isMapped }

    /// Calls `body` with the elements' bytes as stored (see ``isFortranOrder`` and the byte order
    /// of ``dtype``).
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(buffer) { try body(buffer.bytes) }
    }

    /// The elements as `T` in row-major order, when ``dtype`` is exactly `T`'s type (either byte
    /// order; `bool` reads as `UInt8` or `Int8`).
    ///
    /// - Throws: ``PickleError`` `typeMismatch` naming both types.
    public func values<T: BulkCodable>(as type: T.Type) throws(PickleError) -> [T] {
        try checkElementType(T.bulkElementType)
        return normalized().withUnsafeBytes { bytes in
            [T](unsafeUninitializedCapacity: count) { buffer, initialized in
                if count > 0 { UnsafeMutableRawBufferPointer(buffer).copyMemory(from: bytes) }
                initialized = count
            }
        }
    }

    /// Every element as a ``PythonValue`` (`.bool`, `.int`, `.float`, `.complex`) in row-major
    /// order; bytes of non-numeric data types as `.bytes`.
    public var elements: [PythonValue] {
        let array = normalized()
        return (0..<count).map { array.element(atNormalized: $0) }
    }

    /// Throws unless elements of this array can be read as `type` (bool as 8-bit integers).
    package func checkElementType(_ type: BulkElementType) throws(PickleError) {
        let matches = dtype.bulkElementType == type || dtype.kind == "b" && (type == .uint8 || type == .int8)
        guard matches else {
            throw PickleError(.typeMismatch, "the array holds \(dtype) elements, not \(type.name)")
        }
    }

    /// The same array little-endian and row-major (itself when it already is).
    package func normalized() -> NumpyArray {
        let swap = dtype.isBigEndian && dtype.itemSize > 1 && dtype.isNumeric
        let transpose = isFortranOrder && shape.count > 1
        guard swap || transpose else { return self }
        let size = dtype.itemSize, complex = dtype.kind == "c"
        let converted = NumpyBuffer(count: buffer.count) { output in
            let input = buffer.bytes
            if transpose {
                NumpyArray.transposeFortran(input, into: output, shape: shape, itemSize: size)
            } else if let base = input.baseAddress, input.count > 0 {
                output.baseAddress!.copyMemory(from: base, byteCount: input.count)
            }
            if swap {
                // Complex numbers are two floats, each swapped on its own.
                let width = complex ? size / 2 : size
                var start = 0
                while start + width <= output.count {
                    var low = start, high = start + width - 1
                    while low < high {
                        output.swapAt(low, high)
                        low += 1
                        high -= 1
                    }
                    start += width
                }
            }
        }
        var newType = dtype
        if swap { newType.isBigEndian = false }
        return NumpyArray(dtype: newType, shape: shape, className: className, buffer: converted)
    }

    /// Copies column-major elements into row-major order.
    private static func transposeFortran(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, shape: [Int], itemSize: Int) {
        let total = elementCount(shape) ?? 0
        guard total > 0 else { return }
        // Fortran strides (in elements): the first index varies fastest.
        var strides = [Int](repeating: 1, count: shape.count)
        for axis in 1..<shape.count { strides[axis] = strides[axis - 1] * shape[axis - 1] }
        var index = [Int](repeating: 0, count: shape.count)
        var source = 0
        for target in 0..<total {
            (output.baseAddress! + target * itemSize).copyMemory(from: input.baseAddress! + source * itemSize, byteCount: itemSize)
            // Advance the row-major multi-index (last axis fastest) and the Fortran offset with it.
            var axis = shape.count - 1
            while axis >= 0 {
                index[axis] += 1
                source += strides[axis]
                if index[axis] < shape[axis] { break }
                source -= strides[axis] * shape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }

    /// The sub-array at `position` along the first axis (row-major, little-endian).
    package func subarray(_ position: Int) -> NumpyArray {
        let array = normalized()
        let inner = Array(shape.dropFirst())
        let stride = (Self.elementCount(inner) ?? 0) * dtype.itemSize
        let slice = UnsafeRawBufferPointer(rebasing: array.buffer.bytes[position * stride..<(position + 1) * stride])
        return NumpyArray(dtype: array.dtype, shape: inner, className: className, buffer: NumpyBuffer(viewing: slice, of: array.buffer))
    }

    /// One element of an already normalized array.
    package func element(atNormalized index: Int) -> PythonValue {
        let bytes = buffer.bytes, at = index * dtype.itemSize
        func load<T: BitwiseCopyable>(_: T.Type, _ offset: Int = 0) -> T { bytes.loadUnaligned(fromByteOffset: at + offset, as: T.self) }
        switch (dtype.kind, dtype.itemSize) {
        case ("b", 1): return .bool(load(UInt8.self) != 0)
        case ("i", 1): return .int(Int(load(Int8.self)))
        case ("i", 2): return .int(Int(load(Int16.self)))
        case ("i", 4): return .int(Int(load(Int32.self)))
        case ("i", 8): return .int(Int(load(Int64.self)))
        case ("u", 1): return .int(Int(load(UInt8.self)))
        case ("u", 2): return .int(Int(load(UInt16.self)))
        case ("u", 4): return .int(Int(load(UInt32.self)))
        case ("u", 8):
            let value = load(UInt64.self)
            return value <= UInt64(Int.max) ? .int(Int(value)) : .bigInt(PythonBigInt(value))
        case ("f", 2):
            #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
            return .float(Double(Float16(bitPattern: load(UInt16.self))))
            #else
            return .bytes(Array(bytes[at..<at + 2]))
            #endif
        case ("f", 4): return .float(Double(load(Float.self)))
        case ("f", 8): return .float(load(Double.self))
        case ("c", 8): return .complex(real: Double(load(Float.self)), imaginary: Double(load(Float.self, 4)))
        case ("c", 16): return .complex(real: load(Double.self), imaginary: load(Double.self, 8))
        default: return .bytes(Array(bytes[at..<at + dtype.itemSize]))
        }
    }

    /// The number of elements a shape holds, or nil when a dimension is negative or it overflows.
    package static func elementCount(_ shape: [Int]) -> Int? {
        var product = 1
        for dimension in shape {
            guard dimension >= 0 else { return nil }
            let (next, overflow) = product.multipliedReportingOverflow(by: dimension)
            guard !overflow else { return nil }
            product = next
        }
        return product
    }
}

extension NumpyArray: Equatable {
    /// Same data type (after byte order), shape and elements.
    public static func == (lhs: NumpyArray, rhs: NumpyArray) -> Bool {
        let left = lhs.normalized(), right = rhs.normalized()
        return left.dtype == right.dtype && left.shape == right.shape && left.buffer.bytes.elementsEqual(right.buffer.bytes)
    }
}

/// The bytes of a ``NumpyArray``: memory it allocated, or a view kept alive by an owner (a file
/// mapping, the buffer a file was read into).
package final class NumpyBuffer: @unchecked Sendable {
    // @unchecked: immutable after init; `owner` is only retained.
    package let base: UnsafeRawPointer?
    package let count: Int
    /// What keeps `base` alive; nil when this object allocated it.
    package let owner: AnyObject?

    /// A copy of `bytes`.
    package convenience init(copying bytes: UnsafeRawBufferPointer) {
        self.init(count: bytes.count) { output in
            if let source = bytes.baseAddress, bytes.count > 0 { output.baseAddress!.copyMemory(from: source, byteCount: bytes.count) }
        }
    }

    /// `count` bytes filled by `body`.
    package init(count: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void) {
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 16)
        body(UnsafeMutableRawBufferPointer(rebasing: memory[0..<count]))
        base = UnsafeRawPointer(memory.baseAddress)
        self.count = count
        owner = nil
    }

    /// A view of `bytes`, which `owner` keeps alive.
    package init(viewing bytes: UnsafeRawBufferPointer, owner: AnyObject) {
        base = bytes.baseAddress
        count = bytes.count
        self.owner = owner
    }

    /// A view of part of another buffer, keeping the same ultimate owner.
    package convenience init(viewing bytes: UnsafeRawBufferPointer, of other: NumpyBuffer) {
        self.init(viewing: bytes, owner: other.owner ?? other)
    }

    package var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Whether the bytes live in a memory-mapped file.
    package var isMapped: Bool { owner is MemoryMapping }

    deinit {
        if owner == nil { base.map { UnsafeMutableRawPointer(mutating: $0).deallocate() } }
    }
}
