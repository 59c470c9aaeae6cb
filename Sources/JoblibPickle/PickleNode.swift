/// A value under construction while a pickle is read. Reference semantics, as Python's objects:
/// the memo, the stack and containers share nodes, and `BUILD`, `APPEND` and `SETITEMS` change a
/// node in place that other references then see.
final class PickleNode {
    enum Kind {
        /// Finished, immutable data (numbers, strings, arrays, globals…).
        case leaf(PythonValue)
        case list([PickleNode])
        case tuple([PickleNode])
        case dict([(PickleNode, PickleNode)])
        case set([PickleNode])
        case frozenSet([PickleNode])
        case object(PendingObject)
        /// `numpy.dtype(descr, …)` waiting for the `BUILD` that gives its byte order.
        case dtype(descriptor: String)
        /// `numpy.core.multiarray._reconstruct(cls, …)` waiting for the `BUILD` with its data.
        case reconstruct(className: String)
        /// joblib's `NumpyArrayWrapper` waiting for the `BUILD` after which its bytes follow.
        case arrayWrapper
        /// A numpy object array: its elements, in `order`, and shape.
        case objectArray(shape: [Int], fortran: Bool, items: [PickleNode])
    }

    struct PendingObject {
        var className: String
        var arguments: [PickleNode]
        var keywordArguments: [(PickleNode, PickleNode)] = []
        var state: PickleNode?
        var listItems: [PickleNode] = []
        var dictItems: [(PickleNode, PickleNode)] = []
    }

    var kind: Kind
    /// The converted value, once converted (shared sub-trees convert once).
    private var converted: PythonValue?
    private var converting = false

    init(_ kind: Kind) { self.kind = kind }
    convenience init(value: PythonValue) { self.init(.leaf(value)) }

    var leaf: PythonValue? {
        if case .leaf(let value) = kind { return value }
        return nil
    }

    var string: String? {
        if case .string(let text)? = leaf { return text }
        return nil
    }

    var int: Int? {
        if case .int(let value)? = leaf { return value }
        return nil
    }

    /// The items of a tuple (or list) node.
    var items: [PickleNode]? {
        switch kind {
        case .tuple(let items), .list(let items): items
        default: nil
        }
    }

    /// The value, converted recursively; shared nodes convert once, cycles and excessive depth throw.
    func value(depth: Int, limits: PickleLimits) throws(PickleError) -> PythonValue {
        if let converted { return converted }
        guard !converting else {
            throw PickleError(.limitExceeded, "the pickle holds a reference cycle (a container that contains itself), which cannot be read as a tree")
        }
        guard depth <= limits.maxDepth else {
            throw PickleError(.limitExceeded, "the value nests deeper than \(limits.maxDepth) levels")
        }
        converting = true
        defer { converting = false }
        func all(_ nodes: [PickleNode]) throws(PickleError) -> [PythonValue] {
            var values: [PythonValue] = []
            values.reserveCapacity(nodes.count)
            for node in nodes { values.append(try node.value(depth: depth + 1, limits: limits)) }
            return values
        }
        func entries(_ pairs: [(PickleNode, PickleNode)]) throws(PickleError) -> [PythonDictEntry] {
            var values: [PythonDictEntry] = []
            values.reserveCapacity(pairs.count)
            for (key, value) in pairs {
                values.append(PythonDictEntry(key: try key.value(depth: depth + 1, limits: limits), value: try value.value(depth: depth + 1, limits: limits)))
            }
            return values
        }
        let result: PythonValue
        switch kind {
        case .leaf(let value): result = value
        case .list(let items): result = .list(try all(items))
        case .tuple(let items): result = .tuple(try all(items))
        case .dict(let pairs): result = .dict(try entries(pairs))
        case .set(let items): result = .set(try all(items))
        case .frozenSet(let items): result = .frozenSet(try all(items))
        case .object(let object):
            result = .object(PythonObject(
                className: object.className, arguments: try all(object.arguments),
                keywordArguments: try entries(object.keywordArguments),
                state: try object.state?.value(depth: depth + 1, limits: limits),
                listItems: try all(object.listItems), dictItems: try entries(object.dictItems)))
        case .dtype(let descriptor):
            // A dtype never given its state: numpy's default byte order is the machine's.
            result = NumpyDType(reduceArgument: descriptor, byteOrder: nil, stateItemSize: nil).map { .dtype($0) }
                ?? .object(PythonObject(className: "numpy.dtype", arguments: [.string(descriptor)]))
        case .reconstruct(let className):
            result = .object(PythonObject(className: "numpy.core.multiarray._reconstruct", arguments: [.string(className)]))
        case .arrayWrapper:
            result = .object(PythonObject(className: "joblib.numpy_pickle.NumpyArrayWrapper"))
        case .objectArray(let shape, let fortran, let items):
            result = Self.nest(try all(items), shape: shape, fortran: fortran)
        }
        converted = result
        return result
    }

    /// An object array's elements as nested lists following its shape (a 0-d array is its element).
    private static func nest(_ flat: [PythonValue], shape: [Int], fortran: Bool) -> PythonValue {
        guard !shape.isEmpty else { return flat.first ?? .none }
        var rowMajor = flat
        if fortran && shape.count > 1 {
            // Column-major: the first index varies fastest.
            var strides = [Int](repeating: 1, count: shape.count)
            for axis in 1..<shape.count { strides[axis] = strides[axis - 1] * shape[axis - 1] }
            rowMajor = (0..<flat.count).map { target in
                var rest = target, source = 0
                for axis in stride(from: shape.count - 1, through: 0, by: -1) {
                    source += rest % shape[axis] * strides[axis]
                    rest /= shape[axis]
                }
                return flat[source]
            }
        }
        func build(_ axis: Int, _ start: Int) -> PythonValue {
            let inner = shape[(axis + 1)...].reduce(1, *)
            if axis == shape.count - 1 { return .list(Array(rowMajor[start..<start + shape[axis]])) }
            return .list((0..<shape[axis]).map { build(axis + 1, start + $0 * inner) })
        }
        return build(0, 0)
    }
}
