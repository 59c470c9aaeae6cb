/// A value read from a Python pickle (a file of Python's `joblib.dump`), as inert data.
///
/// ```swift
/// let tree = try load(PythonValue.self, from: "model.joblib")
/// print(tree)                                   // a Python-like rendering
/// if case .object(let model) = tree, model.className.hasSuffix("LinearRegression"),
///    case .array(let coef)? = model.state?["coef_"] {
///     print(try coef.values(as: Double.self))
/// }
/// ```
///
/// Nothing in a pickle is ever imported, called or executed. Plain data (numbers, strings,
/// containers, numpy arrays, scalars and data types) appears as itself; a reference to a class or
/// function is ``global(module:name:)``; an object Python would construct is ``object(_:)``,
/// holding the class's qualified name with the arguments and state the pickle gives it.
public indirect enum PythonValue: Sendable {
    /// `None`.
    case none
    /// `True` or `False`.
    case bool(Bool)
    /// An `int` that fits 64 bits.
    case int(Int)
    /// An `int` that does not fit 64 bits.
    case bigInt(PythonBigInt)
    /// A `float`.
    case float(Double)
    /// A `complex`.
    case complex(real: Double, imaginary: Double)
    /// A `str`.
    case string(String)
    /// `bytes`.
    case bytes([UInt8])
    /// A `bytearray`.
    case byteArray([UInt8])
    /// A `list`.
    case list([PythonValue])
    /// A `tuple`.
    case tuple([PythonValue])
    /// A `dict` (also `collections.OrderedDict`), entries in order.
    case dict([PythonDictEntry])
    /// A `set`.
    case set([PythonValue])
    /// A `frozenset`.
    case frozenSet([PythonValue])
    /// A numpy array of numbers (object arrays load as lists).
    case array(NumpyArray)
    /// A numpy scalar (`numpy.float64(2.5)`), as a 0-d array.
    case numpyScalar(NumpyArray)
    /// A numpy data type (`numpy.dtype('float32')`).
    case dtype(NumpyDType)
    /// A reference to a class or function, by name; never imported.
    case global(module: String, name: String)
    /// An object Python would construct, never constructed here.
    case object(PythonObject)
}

/// One entry of a ``PythonValue/dict(_:)``.
public struct PythonDictEntry: Sendable, Equatable {
    /// The key.
    public var key: PythonValue
    /// The value.
    public var value: PythonValue

    /// An entry.
    public init(key: PythonValue, value: PythonValue) {
        self.key = key
        self.value = value
    }
}

/// An object that a pickle describes but that is never constructed: its class's qualified name,
/// the arguments the class (or function) would be called with, and the state it would be given.
///
/// A fitted scikit-learn estimator, for example, is an object whose ``state`` is a dict holding
/// its arrays (`coef_`, `intercept_`, `mean_`, `scale_`…).
public struct PythonObject: Sendable, Equatable {
    /// The qualified name of the class or function, `"sklearn.linear_model._base.LinearRegression"`.
    public var className: String
    /// The positional arguments of the call that would create it (`NEWOBJ`, `REDUCE`).
    public var arguments: [PythonValue]
    /// The keyword arguments (`NEWOBJ_EX`), if any.
    public var keywordArguments: [PythonDictEntry]
    /// The state passed to `__setstate__` (`BUILD`), usually a dict of attributes; nil when none.
    public var state: PythonValue?
    /// Items appended to the object (`APPEND` on a list subclass).
    public var listItems: [PythonValue]
    /// Items set on the object (`SETITEM` on a dict subclass).
    public var dictItems: [PythonDictEntry]

    /// An object description.
    public init(
        className: String, arguments: [PythonValue] = [], keywordArguments: [PythonDictEntry] = [],
        state: PythonValue? = nil, listItems: [PythonValue] = [], dictItems: [PythonDictEntry] = []
    ) {
        self.className = className
        self.arguments = arguments
        self.keywordArguments = keywordArguments
        self.state = state
        self.listItems = listItems
        self.dictItems = dictItems
    }

    /// The attributes of the object: its state's dict entries with string keys (for a state
    /// `(dict, slots)`, both dicts), then its ``dictItems``.
    public var attributes: [PythonDictEntry] {
        var entries: [PythonDictEntry] = []
        switch state {
        case .dict(let items)?: entries = items
        case .tuple(let parts)? where parts.count == 2:
            for part in parts { if case .dict(let items) = part { entries += items } }
        default: break
        }
        return entries + dictItems
    }
}

extension PythonValue {
    /// The value under a string key of a dict, or an attribute of an object; nil otherwise.
    public subscript(key: String) -> PythonValue? {
        let entries: [PythonDictEntry]
        switch self {
        case .dict(let items): entries = items
        case .object(let object): entries = object.attributes
        default: return nil
        }
        return entries.first { if case .string(key) = $0.key { true } else { false } }?.value
    }

    /// The element at `index` of a list or tuple; nil otherwise or when out of range.
    public subscript(index: Int) -> PythonValue? {
        switch self {
        case .list(let items), .tuple(let items): items.indices.contains(index) ? items[index] : nil
        default: nil
        }
    }

    /// Python's name for the value's type (`"float"`, `"dict"`, `"numpy.ndarray"`, or the class
    /// name of an object).
    public var typeName: String {
        switch self {
        case .none: "NoneType"
        case .bool: "bool"
        case .int, .bigInt: "int"
        case .float: "float"
        case .complex: "complex"
        case .string: "str"
        case .bytes: "bytes"
        case .byteArray: "bytearray"
        case .list: "list"
        case .tuple: "tuple"
        case .dict: "dict"
        case .set: "set"
        case .frozenSet: "frozenset"
        case .array(let array): array.className
        case .numpyScalar(let array): "numpy.\(array.dtype.description)"
        case .dtype: "numpy.dtype"
        case .global: "global"
        case .object(let object): object.className
        }
    }
}

extension PythonValue: Equatable {
    /// Structural equality; floats compare as numbers (so `nan != nan`, as in Python).
    public static func == (lhs: PythonValue, rhs: PythonValue) -> Bool {
        switch (lhs, rhs) {
        case (.none, .none): true
        case let (.bool(a), .bool(b)): a == b
        case let (.int(a), .int(b)): a == b
        case let (.bigInt(a), .bigInt(b)): a == b
        case let (.float(a), .float(b)): a == b
        case let (.complex(a, b), .complex(c, d)): a == c && b == d
        case let (.string(a), .string(b)): a == b
        case let (.bytes(a), .bytes(b)), let (.byteArray(a), .byteArray(b)): a == b
        case let (.list(a), .list(b)), let (.tuple(a), .tuple(b)), let (.set(a), .set(b)), let (.frozenSet(a), .frozenSet(b)): a == b
        case let (.dict(a), .dict(b)): a == b
        case let (.array(a), .array(b)), let (.numpyScalar(a), .numpyScalar(b)): a == b
        case let (.dtype(a), .dtype(b)): a == b
        case let (.global(m1, n1), .global(m2, n2)): m1 == m2 && n1 == n2
        case let (.object(a), .object(b)): a == b
        default: false
        }
    }
}

/// A Python `int` too large for 64 bits: its two's-complement bytes, least significant first.
public struct PythonBigInt: Hashable, Sendable, CustomStringConvertible {
    /// The two's-complement representation, least significant byte first, without redundant
    /// sign bytes (as pickle's `LONG1`/`LONG4` store it).
    public var littleEndianBytes: [UInt8]

    /// A big integer from its two's-complement bytes, least significant first.
    public init(littleEndianBytes: [UInt8]) {
        var bytes = littleEndianBytes
        // Drop sign-extension bytes that do not change the value.
        while bytes.count > 1, let last = bytes.last,
              last == 0 && bytes[bytes.count - 2] & 0x80 == 0 || last == 0xFF && bytes[bytes.count - 2] & 0x80 != 0 {
            bytes.removeLast()
        }
        self.littleEndianBytes = bytes
    }

    /// An unsigned 64-bit value.
    public init(_ value: UInt64) {
        var bytes = (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
        bytes.append(0)
        self.init(littleEndianBytes: bytes)
    }

    /// Whether the number is negative.
    public var isNegative: Bool { (littleEndianBytes.last ?? 0) & 0x80 != 0 }

    /// The value as `UInt64` when it is non-negative and fits; nil otherwise.
    public var uint64Value: UInt64? {
        guard !isNegative, littleEndianBytes.count <= 9, littleEndianBytes.count < 9 || littleEndianBytes[8] == 0 else { return nil }
        return littleEndianBytes.prefix(8).enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * $1.offset) }
    }

    /// The value in decimal (in hexadecimal above 4096 bytes, where decimal conversion is slow).
    public var description: String {
        var magnitude = littleEndianBytes
        if isNegative {
            // Two's complement: invert and add one.
            var carry = true
            for index in magnitude.indices {
                magnitude[index] = ~magnitude[index]
                if carry { (magnitude[index], carry) = magnitude[index].addingReportingOverflow(1) }
            }
        }
        let sign = isNegative ? "-" : ""
        if magnitude.count > 4096 {
            return sign + "0x" + magnitude.reversed().map { String($0, radix: 16).leftPadded(2) }.joined()
        }
        // Repeated division by 10^9 over 32-bit limbs, most significant first.
        var limbs: [UInt32] = stride(from: 0, to: magnitude.count, by: 4).map { start in
            (0..<4).reduce(UInt32(0)) { $0 | (start + $1 < magnitude.count ? UInt32(magnitude[start + $1]) << (8 * $1) : 0) }
        }.reversed()
        var groups: [UInt32] = []
        while limbs.contains(where: { $0 != 0 }) {
            var remainder: UInt64 = 0
            for index in limbs.indices {
                let current = remainder << 32 | UInt64(limbs[index])
                limbs[index] = UInt32(current / 1_000_000_000)
                remainder = current % 1_000_000_000
            }
            groups.append(UInt32(remainder))
        }
        guard let top = groups.popLast() else { return "0" }
        return sign + String(top) + groups.reversed().map { String($0).leftPadded(9) }.joined()
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
