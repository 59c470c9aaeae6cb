/// The few callables whose meaning is plain data (complex, set, bytes, numpy arrays, scalars and
/// data types, joblib's array wrapper): their calls are read as the data they describe. Nothing is
/// called; every other callable stays an inert ``PythonObject``.
extension PickleReader {
    static let numpyArrayModules: Set<String> = ["numpy.core.multiarray", "numpy._core.multiarray"]
    static let numpyNumericModules: Set<String> = ["numpy.core.numeric", "numpy._core.numeric"]

    /// The qualified name of a class or function node, or a description of what it is.
    static func callableName(_ node: PickleNode) -> String {
        switch node.kind {
        case .leaf(.global(let module, let name)): "\(module).\(name)"
        case .object(let object): "<object returned by \(object.className)>"
        case .leaf(let value): "<\(value.typeName)>"
        default: "<\(node.kind)>".prefix(80).description
        }
    }

    static func dtype(_ node: PickleNode) -> NumpyDType? {
        switch node.kind {
        case .leaf(.dtype(let dtype)): dtype
        case .dtype(let descriptor): NumpyDType(reduceArgument: descriptor, byteOrder: nil, stateItemSize: nil)
        default: nil
        }
    }

    static func number(_ node: PickleNode) -> Double? {
        switch node.leaf {
        case .float(let value)?: value
        case .int(let value)?: Double(value)
        case .bool(let value)?: value ? 1 : 0
        default: nil
        }
    }

    static func byteValues(_ node: PickleNode) -> [UInt8]? {
        switch node.leaf {
        case .bytes(let bytes)?, .byteArray(let bytes)?: bytes
        default: nil
        }
    }

    /// A latin-1 string's code points as bytes (how protocol 2 writes `bytes`), nil past U+00FF.
    static func latin1(_ text: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        for scalar in text.unicodeScalars {
            guard scalar.value <= 0xFF else { return nil }
            bytes.append(UInt8(scalar.value))
        }
        return bytes
    }

    static func shape(_ node: PickleNode) -> [Int]? {
        if let value = node.int, value >= 0 { return [value] }
        guard let items = node.items else { return nil }
        var shape: [Int] = []
        for item in items {
            guard let value = item.int, value >= 0 else { return nil }
            shape.append(value)
        }
        return shape
    }

    /// `REDUCE`: the call `callable(*arguments)`, never made.
    mutating func reduce(_ callable: PickleNode, _ arguments: [PickleNode]) throws(PickleError) -> PickleNode {
        let inert = PickleNode(.object(.init(className: Self.callableName(callable), arguments: arguments)))
        guard case .leaf(.global(let module, let name)) = callable.kind else { return inert }
        switch (module, name) {
        case ("builtins", "complex"):
            guard arguments.count <= 2 else { return inert }
            let parts = arguments.map(Self.number)
            guard !parts.contains(where: { $0 == nil }) else { return inert }
            return PickleNode(value: .complex(real: parts.first.flatMap { $0 } ?? 0, imaginary: parts.count > 1 ? parts[1]! : 0))
        case ("builtins", "set"), ("builtins", "frozenset"):
            guard arguments.count <= 1 else { return inert }
            guard let items = arguments.isEmpty ? [] : arguments[0].items else { return inert }
            return PickleNode(name == "set" ? .set(items) : .frozenSet(items))
        case ("builtins", "bytearray"), ("builtins", "bytes"), ("_codecs", "encode"):
            if arguments.isEmpty { return PickleNode(value: name == "bytearray" ? .byteArray([]) : .bytes([])) }
            var bytes = Self.byteValues(arguments[0])
            if bytes == nil, arguments.count == 2, let text = arguments[0].string,
               let encoding = arguments[1].string?.lowercased(), encoding == "latin1" || encoding == "latin-1" {
                bytes = Self.latin1(text)
            }
            guard let bytes else { return inert }
            return PickleNode(value: name == "bytearray" ? .byteArray(bytes) : .bytes(bytes))
        case ("collections", "OrderedDict") where arguments.isEmpty:
            return PickleNode(.dict([]))
        case ("numpy", "dtype"):
            guard let descriptor = arguments.first?.string else { return inert }
            return PickleNode(.dtype(descriptor: descriptor))
        case (let module, "scalar") where Self.numpyArrayModules.contains(module):
            guard arguments.count == 2, let dtype = Self.dtype(arguments[0]), dtype.kind != "O",
                  let bytes = Self.byteValues(arguments[1]), bytes.count == dtype.itemSize
            else { return inert }
            let buffer = bytes.withUnsafeBytes { NumpyBuffer(copying: $0) }
            return PickleNode(value: .numpyScalar(NumpyArray(dtype: dtype, shape: [], className: "numpy.\(dtype)", buffer: buffer)))
        case (let module, "_reconstruct") where Self.numpyArrayModules.contains(module):
            guard let cls = arguments.first, case .leaf(.global) = cls.kind else { return inert }
            return PickleNode(.reconstruct(className: Self.callableName(cls)))
        case (let module, "_frombuffer") where Self.numpyNumericModules.contains(module):
            guard arguments.count == 4, let bytes = Self.byteValues(arguments[0]), let dtype = Self.dtype(arguments[1]),
                  let shape = Self.shape(arguments[2]), let order = arguments[3].string
            else { return inert }
            return PickleNode(value: try Self.array(bytes, dtype: dtype, shape: shape, fortran: order == "F", className: "numpy.ndarray"))
        default:
            return inert
        }
    }

    /// An array from bytes that a pickle holds inline (`_reconstruct` state, `_frombuffer`).
    static func array(_ bytes: [UInt8], dtype: NumpyDType, shape: [Int], fortran: Bool, className: String) throws(PickleError) -> PythonValue {
        guard let count = NumpyArray.elementCount(shape), case (let byteCount, false) = count.multipliedReportingOverflow(by: dtype.itemSize),
              byteCount == bytes.count
        else {
            throw PickleError(.malformed, "a numpy array of shape \(shape) and type \(dtype) comes with \(bytes.count) bytes of data")
        }
        let buffer = bytes.withUnsafeBytes { NumpyBuffer(copying: $0) }
        return .array(NumpyArray(dtype: dtype, shape: shape, isFortranOrder: fortran, className: className, buffer: buffer))
    }

    /// `NEWOBJ`: `cls.__new__(cls, *arguments)`, never made.
    func newObject(_ cls: PickleNode, _ arguments: [PickleNode]) -> PickleNode {
        if case .leaf(.global("joblib.numpy_pickle", "NumpyArrayWrapper")) = cls.kind {
            return PickleNode(.arrayWrapper)
        }
        return PickleNode(.object(.init(className: Self.callableName(cls), arguments: arguments)))
    }

    /// `BUILD`: `target.__setstate__(state)`, recorded as the object's state.
    mutating func build(_ target: PickleNode, _ state: PickleNode) throws(PickleError) {
        switch target.kind {
        case .object(var object):
            target.kind = .leaf(.none)
            object.state = state
            target.kind = .object(object)
        case .dtype(let descriptor):
            let items = state.items ?? []
            let order = items.count > 1 ? items[1].string : nil
            let size = items.count > 5 ? items[5].int : nil
            guard let dtype = NumpyDType(reduceArgument: descriptor, byteOrder: order, stateItemSize: size) else {
                target.kind = .object(.init(className: "numpy.dtype", arguments: [PickleNode(value: .string(descriptor))], state: state))
                return
            }
            target.kind = .leaf(.dtype(dtype))
        case .reconstruct(let className):
            guard let items = state.items, items.count == 5, let shape = Self.shape(items[1]), let dtype = Self.dtype(items[2]),
                  case .bool(let fortran)? = items[3].leaf
            else { throw PickleError(.malformed, "a numpy array's state is not (version, shape, dtype, fortran, data)") }
            if dtype.kind == "O" {
                guard let elements = items[4].items, elements.count == NumpyArray.elementCount(shape) else {
                    throw PickleError(.malformed, "a numpy object array of shape \(shape) does not come with as many elements")
                }
                target.kind = .objectArray(shape: shape, fortran: fortran, items: elements)
            } else {
                var data = Self.byteValues(items[4])
                if data == nil, let text = items[4].string { data = Self.latin1(text) }
                guard let data else { throw PickleError(.malformed, "a numpy array's data is not bytes") }
                target.kind = .leaf(try Self.array(data, dtype: dtype, shape: shape, fortran: fortran, className: className))
            }
        case .arrayWrapper:
            try readWrappedArray(target, state: state)
        default:
            // State for a plain container (attributes of a list or dict subclass): not kept.
            break
        }
    }

    /// Reads the array that follows a `NumpyArrayWrapper`'s `BUILD` in joblib's stream: an
    /// alignment padding, then the raw bytes (or, for object arrays, a pickle of the array).
    mutating func readWrappedArray(_ target: PickleNode, state: PickleNode) throws(PickleError) {
        guard case .dict(let pairs) = state.kind else {
            throw PickleError(.malformed, "a joblib NumpyArrayWrapper's state is not a dict")
        }
        var fields: [String: PickleNode] = [:]
        for (key, value) in pairs { if let name = key.string { fields[name] = value } }
        guard let shapeNode = fields["shape"], let shape = Self.shape(shapeNode),
              let dtypeNode = fields["dtype"], let dtype = Self.dtype(dtypeNode)
        else { throw PickleError(.malformed, "a joblib NumpyArrayWrapper's state lacks a valid shape or dtype") }
        let fortran = fields["order"]?.string == "F"
        let className = fields["subclass"].map(Self.callableName) ?? "numpy.ndarray"
        if dtype.kind == "O" {
            // joblib pickles object arrays with the standard pickler right here, inside the stream.
            guard nesting < limits.maxNestedStreams else {
                throw PickleError(.limitExceeded, "pickles nest more than \(limits.maxNestedStreams) deep")
            }
            var inner = PickleReader(bytes: bytes, at: position, owner: owner, limits: limits, nesting: nesting + 1, allocated: allocated, arena: arena)
            let node = try inner.run()
            position = inner.position
            allocated = inner.allocated
            target.kind = node.kind
            return
        }
        if let alignment = fields["numpy_array_alignment_bytes"], alignment.int != nil {
            let padding = Int(try readByte())
            _ = try take(padding, "the alignment padding of an array")
        }
        guard let count = NumpyArray.elementCount(shape), case (let byteCount, false) = count.multipliedReportingOverflow(by: dtype.itemSize) else {
            throw PickleError(.malformed, "an array of shape \(shape) and type \(dtype) is larger than memory")
        }
        let raw = try take(byteCount, "an array of shape \(shape) and type \(dtype)")
        let buffer: NumpyBuffer
        if let owner {
            buffer = NumpyBuffer(viewing: raw, owner: owner)
        } else {
            try charge(byteCount)
            buffer = NumpyBuffer(copying: raw)
        }
        target.kind = .leaf(.array(NumpyArray(dtype: dtype, shape: shape, isFortranOrder: fortran, className: className, buffer: buffer)))
    }
}
