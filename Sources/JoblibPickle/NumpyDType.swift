import JoblibCoding

/// A numpy data type as a pickle describes it: kind, item size and byte order.
///
/// ```swift
/// if case .array(let a) = value, a.dtype == .float64 { … }
/// print(a.dtype)          // "float64", or "<U5", ">f4" for non-native byte order
/// ```
public struct NumpyDType: Hashable, Sendable, CustomStringConvertible {
    /// numpy's one-letter kind: `b` bool, `i` signed, `u` unsigned, `f` float, `c` complex,
    /// `O` object, `S` bytes, `U` unicode, `V` void/structured, `M` datetime, `m` timedelta.
    public var kind: Character
    /// Bytes per element.
    public var itemSize: Int
    /// Whether elements are stored most significant byte first (`>`).
    public var isBigEndian: Bool

    /// A data type from its parts.
    public init(kind: Character, itemSize: Int, isBigEndian: Bool = false) {
        self.kind = kind
        self.itemSize = itemSize
        self.isBigEndian = isBigEndian
    }

    /// numpy's `bool`.
    public static let bool = NumpyDType(kind: "b", itemSize: 1)
    /// numpy's `float64`, little-endian.
    public static let float64 = NumpyDType(kind: "f", itemSize: 8)
    /// numpy's `float32`, little-endian.
    public static let float32 = NumpyDType(kind: "f", itemSize: 4)
    /// numpy's `int64`, little-endian.
    public static let int64 = NumpyDType(kind: "i", itemSize: 8)
    /// numpy's `object`: elements are Python values, which load as lists.
    public static let object = NumpyDType(kind: "O", itemSize: 8)

    /// Whether the elements are numbers this library reads (bool, integers, floats, complex).
    public var isNumeric: Bool {
        switch kind {
        case "b": itemSize == 1
        case "i", "u": [1, 2, 4, 8].contains(itemSize)
        case "f": [2, 4, 8].contains(itemSize)
        case "c": [8, 16].contains(itemSize)
        default: false
        }
    }

    /// numpy's name (`"float64"`, `"complex128"`, `"bool"`), prefixed with `>` when big-endian;
    /// other kinds as numpy's type string (`"<U5"`, `"|S3"`).
    public var description: String {
        let order = isBigEndian ? ">" : ""
        switch kind {
        case "b" where itemSize == 1: return "bool"
        case "i" where isNumeric: return order + "int\(itemSize * 8)"
        case "u" where isNumeric: return order + "uint\(itemSize * 8)"
        case "f" where isNumeric: return order + "float\(itemSize * 8)"
        case "c" where isNumeric: return order + "complex\(itemSize * 8)"
        case "O": return "object"
        default: return typeString
        }
    }

    /// numpy's type string, as in `.npy` headers and `dtype.str` (`"<f8"`, `"|b1"`, `">i4"`).
    public var typeString: String {
        let order = itemSize == 1 || kind == "O" || kind == "S" || kind == "V" ? "|" : (isBigEndian ? ">" : "<")
        let size = kind == "U" ? itemSize / 4 : itemSize
        return "\(order)\(kind)\(size)"
    }

    /// The coding element type with the same memory (nil for bool, complex, and non-numbers).
    package var bulkElementType: BulkElementType? {
        switch (kind, itemSize) {
        case ("i", 1): .int8
        case ("i", 2): .int16
        case ("i", 4): .int32
        case ("i", 8): .int64
        case ("u", 1): .uint8
        case ("u", 2): .uint16
        case ("u", 4): .uint32
        case ("u", 8): .uint64
        case ("f", 2): .float16
        case ("f", 4): .float32
        case ("f", 8): .float64
        default: nil
        }
    }

    /// The data type of a coding element type, little-endian.
    package init(_ type: BulkElementType) {
        let name = type.name
        let kind: Character = name.hasPrefix("uint") ? "u" : name.hasPrefix("int") ? "i" : "f"
        self.init(kind: kind, itemSize: type.byteWidth)
    }

    /// Parses the first argument of numpy's `dtype` reduce (`"f8"`, `"b1"`, `"U5"`, `"M8"`) and the
    /// byte order and element size of its state; nil when the string is not a type string.
    package init?(reduceArgument text: String, byteOrder: String?, stateItemSize: Int?) {
        guard let first = text.first, "biufcOSUVMm".contains(first) else { return nil }
        let digits = text.dropFirst()
        let number = digits.isEmpty ? nil : Int(digits)
        if !digits.isEmpty && number == nil { return nil }
        var size: Int
        switch first {
        case "U": size = (number ?? 0) * 4
        case "M", "m", "O": size = 8
        default: size = number ?? 0
        }
        if let stateItemSize, stateItemSize >= 0, "SUV".contains(first) { size = stateItemSize }
        guard size >= 0, size <= 1 << 30 else { return nil }
        self.init(kind: first, itemSize: size, isBigEndian: byteOrder == ">")
    }
}
