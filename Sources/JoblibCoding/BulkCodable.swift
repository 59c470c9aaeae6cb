#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import JoblibSystem

/// A number type whose arrays are coded as raw bytes in one copy, instead of element by element.
///
/// The standard integer and floating-point types conform. A type of your own may conform when its
/// memory is exactly one value of ``bulkElementType`` (a wrapper around one `Double`, say); its
/// `Codable` conformance must then encode that one number. Arrays of conforming types are stored
/// and hashed as their bytes plus the element type and count, which is what makes ``BinaryEncoder``
/// and ``hash(_:)`` run at memory speed on large numeric arrays.
public protocol BulkCodable: FixedLayoutValue {
    /// The number type that this type's memory holds.
    static var bulkElementType: BulkElementType { get }
}

/// The number types that bulk arrays can hold.
public struct BulkElementType: Hashable, Sendable, CustomStringConvertible {
    /// The format's code for the type; stable (it is part of files and hashes).
    package let code: UInt8
    /// The size of one element in bytes.
    public let byteWidth: Int
    /// A short name in numpy's spelling (`"float64"`, `"int32"`).
    public let name: String

    private init(code: UInt8, byteWidth: Int, name: String) {
        self.code = code
        self.byteWidth = byteWidth
        self.name = name
    }

    /// The numpy name, as ``name``.
    public var description: String { name }

    /// `Int8` elements (1 byte each).
    public static let int8 = BulkElementType(code: Tag.int8.rawValue, byteWidth: 1, name: "int8")
    /// `Int16` elements (2 bytes each).
    public static let int16 = BulkElementType(code: Tag.int16.rawValue, byteWidth: 2, name: "int16")
    /// `Int32` elements (4 bytes each).
    public static let int32 = BulkElementType(code: Tag.int32.rawValue, byteWidth: 4, name: "int32")
    /// `Int64` and `Int` elements (8 bytes each).
    public static let int64 = BulkElementType(code: Tag.int64.rawValue, byteWidth: 8, name: "int64")
    /// `UInt8` elements (1 byte each).
    public static let uint8 = BulkElementType(code: Tag.uint8.rawValue, byteWidth: 1, name: "uint8")
    /// `UInt16` elements (2 bytes each).
    public static let uint16 = BulkElementType(code: Tag.uint16.rawValue, byteWidth: 2, name: "uint16")
    /// `UInt32` elements (4 bytes each).
    public static let uint32 = BulkElementType(code: Tag.uint32.rawValue, byteWidth: 4, name: "uint32")
    /// `UInt64` and `UInt` elements (8 bytes each).
    public static let uint64 = BulkElementType(code: Tag.uint64.rawValue, byteWidth: 8, name: "uint64")
    /// `Float16` elements (2 bytes each).
    public static let float16 = BulkElementType(code: Tag.float16.rawValue, byteWidth: 2, name: "float16")
    /// `Float` elements (4 bytes each).
    public static let float32 = BulkElementType(code: Tag.float32.rawValue, byteWidth: 4, name: "float32")
    /// `Double` elements (8 bytes each).
    public static let float64 = BulkElementType(code: Tag.float64.rawValue, byteWidth: 8, name: "float64")

    /// Every element type, for decoding a code back.
    public static let all: [BulkElementType] = [
        .int8, .int16, .int32, .int64, .uint8, .uint16, .uint32, .uint64, .float16, .float32, .float64,
    ]

    package init?(code: UInt8) {
        guard let match = Self.all.first(where: { $0.code == code }) else { return nil }
        self = match
    }
}

extension Int8: BulkCodable { public static var bulkElementType: BulkElementType { .int8 } }
extension Int16: BulkCodable { public static var bulkElementType: BulkElementType { .int16 } }
extension Int32: BulkCodable { public static var bulkElementType: BulkElementType { .int32 } }
extension Int64: BulkCodable { public static var bulkElementType: BulkElementType { .int64 } }
extension Int: BulkCodable { public static var bulkElementType: BulkElementType { .int64 } }
extension UInt8: BulkCodable { public static var bulkElementType: BulkElementType { .uint8 } }
extension UInt16: BulkCodable { public static var bulkElementType: BulkElementType { .uint16 } }
extension UInt32: BulkCodable { public static var bulkElementType: BulkElementType { .uint32 } }
extension UInt64: BulkCodable { public static var bulkElementType: BulkElementType { .uint64 } }
extension UInt: BulkCodable { public static var bulkElementType: BulkElementType { .uint64 } }
extension Float: BulkCodable { public static var bulkElementType: BulkElementType { .float32 } }
extension Double: BulkCodable { public static var bulkElementType: BulkElementType { .float64 } }
#if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
extension Float16: BulkCodable { public static var bulkElementType: BulkElementType { .float16 } }
#endif

/// Arrays coded in bulk. Internal: the coders recognise them with one dynamic cast.
package protocol BulkArrayCodable: Sendable {
    static var bulkElementType: BulkElementType { get }
    /// False for a conforming element type whose memory is not exactly one element (a mistake
    /// in a user's conformance); such arrays are coded element by element instead.
    static var hasBulkLayout: Bool { get }
    var bulkCount: Int { get }
    func withBulkBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
    /// Builds the array from `count` elements' bytes (`bytes.count == count * stride`).
    ///
    /// With a non-nil `owner` (a mapped file section) the bytes stay valid as long as `owner`
    /// lives, so a storage type may keep them without copying; with nil they are valid only
    /// during this call.
    static func fromBulkBytes(_ bytes: UnsafeRawBufferPointer, count: Int, owner: AnyObject?) -> Self
    /// Whether ``fromBulkBytes(_:count:owner:)`` copies the bytes (true) or may keep a view
    /// that retains `owner`. Decoders keep only copies for reuse (a kept view would keep its
    /// mapping alive).
    static var copiesBulkBytes: Bool { get }
    /// Builds the array from `count` elements (`byteCount` bytes) that `fill` copies into it
    /// (another process's memory): straight into the array's own storage where the type allows.
    /// A throwing `fill` makes no array.
    static func fromBulkFill(
        count: Int, byteCount: Int, _ fill: (UnsafeMutableRawBufferPointer) throws -> Void
    ) throws -> Self
    /// Lets `fill` overwrite all of this array's bytes in place; false (nothing done) for a type
    /// that cannot. A throwing `fill` leaves the bytes partly written: drop the value.
    mutating func overwriteBulkBytes(_ fill: (UnsafeMutableRawBufferPointer) throws -> Void) throws -> Bool
}

extension BulkArrayCodable {
    package static var copiesBulkBytes: Bool { true }

    /// Through a temporary buffer, then ``fromBulkBytes(_:count:owner:)`` (which copies it).
    package static func fromBulkFill(
        count: Int, byteCount: Int, _ fill: (UnsafeMutableRawBufferPointer) throws -> Void
    ) throws -> Self {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: byteCount, alignment: 16)
        defer { buffer.deallocate() }
        try fill(buffer)
        return fromBulkBytes(UnsafeRawBufferPointer(buffer), count: count, owner: nil)
    }

    package mutating func overwriteBulkBytes(_ fill: (UnsafeMutableRawBufferPointer) throws -> Void) throws -> Bool { false }
}

extension Array: BulkArrayCodable where Element: BulkCodable {
    package static var bulkElementType: BulkElementType { Element.bulkElementType }
    package static var hasBulkLayout: Bool {
        MemoryLayout<Element>.size == Element.bulkElementType.byteWidth
            && MemoryLayout<Element>.stride == Element.bulkElementType.byteWidth
    }
    package var bulkCount: Int { count }
    package func withBulkBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(body)
    }
    package static func fromBulkBytes(_ bytes: UnsafeRawBufferPointer, count: Int, owner: AnyObject?) -> [Element] {
        [Element](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 {
                // A large array (a shared argument in a worker, a loaded section) is filled with
                // far fewer page faults on huge pages: 4 KiB faults cost about 1 s per GB.
                adviseHugePages(covering: UnsafeMutableRawBufferPointer(buffer))
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: bytes)
            }
            initialized = count
        }
    }
    package static func fromBulkFill(
        count: Int, byteCount: Int, _ fill: (UnsafeMutableRawBufferPointer) throws -> Void
    ) throws -> [Element] {
        let expected = count.multipliedReportingOverflow(by: MemoryLayout<Element>.stride)
        guard count >= 0, !expected.overflow, byteCount == expected.partialValue else {
            throw CodingError(.lengthExceedsInput, "an array section of \(byteCount) bytes for \(count) elements of \(Element.self)")
        }
        return try [Element](unsafeUninitializedCapacity: count) { buffer, initialized in
            guard count > 0 else { return }
            let storage = UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(buffer)[0..<byteCount])
            adviseHugePages(covering: storage)
            // Elements are plain numbers: nothing to deinitialize when the fill throws.
            try fill(storage)
            initialized = count
        }
    }
    package mutating func overwriteBulkBytes(_ fill: (UnsafeMutableRawBufferPointer) throws -> Void) throws -> Bool {
        // Shared storage is copied first (copy-on-write): never someone else's array.
        try withUnsafeMutableBytes { try fill($0) }
        return true
    }
}

extension Data: BulkArrayCodable {
    package static var bulkElementType: BulkElementType { .uint8 }
    package static var hasBulkLayout: Bool { true }
    package var bulkCount: Int { count }
    package func withBulkBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(body)
    }
    package static func fromBulkBytes(_ bytes: UnsafeRawBufferPointer, count: Int, owner: AnyObject?) -> Data {
        Data(bytes)
    }
}
