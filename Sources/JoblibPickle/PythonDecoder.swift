#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import JoblibCoding

/// Decodes `Decodable` types from a ``PythonValue``: dict keys and object attributes become
/// fields, numpy arrays become `NDArray`s or arrays of numbers, lists and tuples arrays, `None` nil.
///
/// A value that does not fit is a ``PickleError`` `typeMismatch` saying what was expected, what was
/// found (an object by its class) and where, as a path from the root (`value.steps[0][1].coef_`).
package enum PythonDecoding {
    /// Decodes `type` from `value`.
    package static func decode<T: Decodable>(_ type: T.Type, from value: PythonValue, limits: PickleLimits = PickleLimits()) throws -> T {
        let context = DecodingContext(limits: limits)
        return try context.unbox(type, value, path: [])
    }
}

/// Shared by the decoders of one decode: the budget of values visited.
final class DecodingContext {
    let limits: PickleLimits
    var visited = 0

    init(limits: PickleLimits) { self.limits = limits }

    func unbox<T: Decodable>(_ type: T.Type, _ value: PythonValue, path: [any CodingKey]) throws -> T {
        visited += 1
        guard visited <= limits.maxDecodedValues else {
            throw PickleError(.limitExceeded, "decoding visits more than \(limits.maxDecodedValues) values (shared sub-trees count each time)")
        }
        if T.self == PythonValue.self { return value as! T }
        if let convertible = T.self as? any NumpyArrayConvertible.Type {
            switch value {
            case .array(let array), .numpyScalar(let array):
                do {
                    return try convertible.init(numpyArray: array) as! T
                } catch {
                    throw PickleError(.typeMismatch, "at \(Self.describe(path)): \(error.message)")
                }
            default:
                throw mismatch(T.self, value, path)
            }
        }
        if T.self == Data.self {
            switch value {
            case .bytes(let bytes), .byteArray(let bytes): return Data(bytes) as! T
            default: throw mismatch(T.self, value, path)
            }
        }
        if let bulk = T.self as? any BulkArrayCodable.Type, bulk.hasBulkLayout, case .array(let array) = value, array.shape.count == 1,
           (try? array.checkElementType(bulk.bulkElementType)) != nil {
            let normalized = array.normalized()
            return normalized.withUnsafeBytes { bulk.fromBulkBytes($0, count: normalized.count, owner: nil) } as! T
        }
        return try T(from: PythonValueDecoder(value: value, path: path, context: self))
    }

    /// `value.key[3].other` for a coding path.
    static func describe(_ path: [any CodingKey]) -> String {
        path.reduce("value") { text, key in
            key.intValue.map { "\(text)[\($0)]" } ?? "\(text).\(key.stringValue)"
        }
    }

    /// What a value is, for messages: its Python type, with the class of an object.
    static func describe(_ value: PythonValue) -> String {
        switch value {
        case .object(let object): "an object of class \(object.className)"
        case .global(let module, let name): "a reference to \(module).\(name)"
        case .array(let array): "a numpy array of \(array.dtype), shape \(array.shape)"
        case .none: "None"
        default: "a Python \(value.typeName)"
        }
    }

    func mismatch(_ type: Any.Type, _ value: PythonValue, _ path: [any CodingKey]) -> PickleError {
        mismatch("\(type)", value, path)
    }

    func mismatch(_ expected: String, _ value: PythonValue, _ path: [any CodingKey]) -> PickleError {
        PickleError(.typeMismatch, "at \(Self.describe(path)): expected \(expected), found \(Self.describe(value))")
    }

    /// A numpy scalar or 0-d array as the Python number it holds; other values unchanged.
    static func scalar(_ value: PythonValue) -> PythonValue {
        switch value {
        case .numpyScalar(let array) where array.dtype.isNumeric:
            array.normalized().element(atNormalized: 0)
        case .array(let array) where array.shape.isEmpty && array.dtype.isNumeric:
            array.normalized().element(atNormalized: 0)
        default: value
        }
    }

    func decodeBool(_ value: PythonValue, _ path: [any CodingKey]) throws -> Bool {
        if case .bool(let flag) = Self.scalar(value) { return flag }
        throw mismatch(Bool.self, value, path)
    }

    func decodeString(_ value: PythonValue, _ path: [any CodingKey]) throws -> String {
        if case .string(let text) = value { return text }
        throw mismatch(String.self, value, path)
    }

    func decodeInteger<T: FixedWidthInteger>(_ type: T.Type, _ value: PythonValue, _ path: [any CodingKey]) throws -> T {
        switch Self.scalar(value) {
        case .int(let number):
            if let result = T(exactly: number) { return result }
        case .bigInt(let big):
            if let unsigned = big.uint64Value, let result = T(exactly: unsigned) { return result }
        default:
            throw mismatch(T.self, value, path)
        }
        throw PickleError(.typeMismatch, "at \(Self.describe(path)): the integer \(value) does not fit \(T.self)")
    }

    func decodeFloat<T: BinaryFloatingPoint>(_ type: T.Type, _ value: PythonValue, _ path: [any CodingKey]) throws -> T {
        switch Self.scalar(value) {
        case .float(let number): return T(number)
        case .int(let number):
            if let result = T(exactly: number) { return result }
            throw PickleError(.typeMismatch, "at \(Self.describe(path)): the integer \(number) has no exact \(T.self) value")
        default: throw mismatch(T.self, value, path)
        }
    }
}

/// The `Decoder` over one ``PythonValue``.
struct PythonValueDecoder: Decoder {
    let value: PythonValue
    let codingPath: [any CodingKey]
    let context: DecodingContext
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(value: PythonValue, path: [any CodingKey], context: DecodingContext) {
        self.value = value
        self.codingPath = path
        self.context = context
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        let entries: [PythonDictEntry]
        switch value {
        case .dict(let items): entries = items
        case .object(let object): entries = object.attributes
        default: throw context.mismatch("a dict or an object with attributes", value, codingPath)
        }
        return KeyedDecodingContainer(PythonKeyedContainer<Key>(value: value, entries: entries, path: codingPath, context: context))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard let elements = PythonElements(value) else { throw context.mismatch("a list, tuple, set or numpy array", value, codingPath) }
        return PythonUnkeyedContainer(elements: elements, path: codingPath, context: context)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        PythonSingleValueContainer(value: value, codingPath: codingPath, context: context)
    }
}

/// The elements of a sequence-like value, produced on demand (numpy arrays are not expanded).
struct PythonElements {
    let count: Int
    let element: (Int) -> PythonValue

    init?(_ value: PythonValue) {
        switch value {
        case .list(let items), .tuple(let items), .set(let items), .frozenSet(let items):
            count = items.count
            element = { items[$0] }
        case .bytes(let bytes), .byteArray(let bytes):
            count = bytes.count
            element = { .int(Int(bytes[$0])) }
        case .complex(let real, let imaginary):
            count = 2
            element = { $0 == 0 ? .float(real) : .float(imaginary) }
        case .array(let array) where !array.shape.isEmpty:
            let normalized = array.normalized()
            count = array.shape[0]
            if array.shape.count == 1 {
                element = { normalized.element(atNormalized: $0) }
            } else {
                element = { .array(normalized.subarray($0)) }
            }
        default:
            return nil
        }
    }
}
