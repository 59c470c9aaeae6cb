/// A value whose memory is the value: it holds no pointer, no reference and nothing that means
/// something only in the process that made it, so its bytes can be copied to another process
/// running the same executable and read back there as the same value.
///
/// Conforming is a promise the compiler checks only in part. `BitwiseCopyable` rules out class
/// references, strings, arrays and other values that own memory; the `Sendable` requirement, in
/// the Swift 6 language mode, also rules out unsafe pointers (unless a type is declared
/// `@unchecked Sendable`). What the compiler cannot see is a number that stands for something
/// local to a process, such as a file descriptor or an address stored in an `Int`: such a type
/// must not conform.
///
/// The number types, `Bool`, and every ``BulkCodable`` type conform. Structs and enums of such
/// values may conform too:
///
/// ```swift
/// struct Point: FixedLayoutValue {
///     var x: Double
///     var y: Double
/// }
/// ```
///
/// The `Codable` conformance stays the general path (files, caches, other machines); transports
/// between processes of the same executable may copy the bytes instead and skip it.
public protocol FixedLayoutValue: BitwiseCopyable, Codable, Sendable {}

extension Bool: FixedLayoutValue {}

/// Arrays of fixed-layout values as one block of bytes: an 8-byte header (the element stride,
/// little-endian), then the elements' memory end to end. The stride in the header catches a
/// block read as the wrong type (a bug) before any element is.
///
/// The functions take any element type, but only a ``FixedLayoutValue`` (checked by the caller,
/// which decides the path once per call) may go through them: copying the bytes of a type that
/// owns memory would share that memory without retaining it.
package enum FixedLayoutBlock {
    static let headerSize = 8

    /// The block of `values` (one copy when they are contiguous, as arrays and their slices are).
    package static func make<Values: Collection>(_ values: Values) -> [UInt8] {
        precondition(_isPOD(Values.Element.self), "FixedLayoutBlock of a type that is not bitwise copyable")
        if let block = values.withContiguousStorageIfAvailable({ make(UnsafeRawBufferPointer($0), stride: MemoryLayout<Values.Element>.stride) }) {
            return block
        }
        return Array(values).withUnsafeBytes { make($0, stride: MemoryLayout<Values.Element>.stride) }
    }

    private static func make(_ elements: UnsafeRawBufferPointer, stride: Int) -> [UInt8] {
        let total = headerSize + elements.count
        return [UInt8](unsafeUninitializedCapacity: total) { buffer, initialized in
            let raw = UnsafeMutableRawPointer(buffer.baseAddress!)
            raw.storeBytes(of: UInt64(stride).littleEndian, toByteOffset: 0, as: UInt64.self)
            if !elements.isEmpty { (raw + headerSize).copyMemory(from: elements.baseAddress!, byteCount: elements.count) }
            initialized = total
        }
    }

    /// The elements of a block, checked against `Element`'s stride.
    ///
    /// - Throws: `CodingError` (`truncated` without its header, `typeMismatch` when the block is
    ///   not one of `Element`s).
    package static func elements<Element>(of type: Element.Type, in block: UnsafeRawBufferPointer) throws -> [Element] {
        precondition(_isPOD(Element.self), "FixedLayoutBlock of a type that is not bitwise copyable")
        let stride = MemoryLayout<Element>.stride
        guard block.count >= headerSize else {
            throw CodingError(.truncated, "a fixed-layout block of \(block.count) bytes is shorter than its header")
        }
        let written = UInt64(littleEndian: block.loadUnaligned(as: UInt64.self))
        let body = block.count - headerSize
        guard written == UInt64(stride), body % stride == 0 else {
            throw CodingError(
                .typeMismatch,
                "a fixed-layout block of \(body) bytes in elements of \(written) bytes is not one of \(String(reflecting: Element.self)) "
                    + "(\(stride) bytes): the other process is not the same executable")
        }
        let count = body / stride
        return [Element](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 { UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: block.baseAddress! + headerSize, byteCount: body) }
            initialized = count
        }
    }
}
