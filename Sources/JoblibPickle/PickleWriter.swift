/// Writes plain ``PythonValue``s as a pickle (protocol 4) that Python's `joblib.load` reads,
/// numpy arrays through joblib's `NumpyArrayWrapper` with their raw bytes 16-byte aligned in the
/// stream (so `joblib.load(path, mmap_mode="r")` maps them from an uncompressed file).
///
/// Only plain-data opcodes are written, and only four fixed globals that Python's own pickles of
/// the same data use (`builtins.complex`, `builtins.bytearray`, `numpy.dtype` and joblib's
/// wrapper with `numpy.ndarray`): a value with objects or globals is refused (`notPlainData`), so a
/// file this writes can never make Python import or run anything else.
package struct PickleWriter {
    private let output: (UnsafeRawBufferPointer) throws -> Void
    private var pending: [UInt8] = []
    /// Bytes handed to `output` or pending: the position in the stream, for alignment.
    private var position = 0
    /// joblib's array alignment (NUMPY_ARRAY_ALIGNMENT_BYTES).
    static let arrayAlignment = 16
    static let batchSize = 1000

    private init(output: @escaping (UnsafeRawBufferPointer) throws -> Void) { self.output = output }

    /// Writes `value` as one pickle, handing the bytes to `output` in pieces (array bytes straight
    /// from their memory).
    ///
    /// - Throws: ``PickleError`` `notPlainData`, or what `output` throws.
    package static func write(_ value: PythonValue, to output: @escaping (UnsafeRawBufferPointer) throws -> Void) throws {
        var writer = PickleWriter(output: output)
        writer.emit([Opcode.proto, 4])
        try writer.save(value, depth: 0)
        writer.emit([Opcode.stop])
        try writer.flush()
    }

    /// The pickle of `value` as bytes.
    package static func bytes(_ value: PythonValue) throws -> [UInt8] {
        var result: [UInt8] = []
        try write(value) { result.append(contentsOf: $0) }
        return result
    }

    private mutating func emit(_ bytes: [UInt8]) {
        pending += bytes
        position += bytes.count
    }

    private mutating func emitInteger<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { emit(Array($0)) }
    }

    private mutating func flush() throws {
        guard !pending.isEmpty else { return }
        try pending.withUnsafeBytes { try output($0) }
        pending.removeAll(keepingCapacity: true)
    }

    private mutating func emitString(_ text: String) {
        let utf8 = Array(text.utf8)
        if utf8.count < 256 {
            emit([Opcode.shortBinUnicode, UInt8(utf8.count)])
        } else if utf8.count <= Int(UInt32.max) {
            emit([Opcode.binUnicode])
            emitInteger(UInt32(utf8.count))
        } else {
            emit([Opcode.binUnicode8])
            emitInteger(UInt64(utf8.count))
        }
        emit(utf8)
    }

    private mutating func emitBytes(_ bytes: [UInt8]) {
        if bytes.count < 256 {
            emit([Opcode.shortBinBytes, UInt8(bytes.count)])
        } else if bytes.count <= Int(UInt32.max) {
            emit([Opcode.binBytes])
            emitInteger(UInt32(bytes.count))
        } else {
            emit([Opcode.binBytes8])
            emitInteger(UInt64(bytes.count))
        }
        emit(bytes)
    }

    private mutating func emitGlobal(_ module: String, _ name: String) {
        emit([Opcode.global])
        emit(Array("\(module)\n\(name)\n".utf8))
    }

    private mutating func emitInt(_ value: Int) {
        switch value {
        case 0...0xFF: emit([Opcode.binInt1, UInt8(value)])
        case 0...0xFFFF:
            emit([Opcode.binInt2])
            emitInteger(UInt16(value))
        case Int(Int32.min)...Int(Int32.max):
            emit([Opcode.binInt])
            emitInteger(Int32(value))
        default:
            emitLong(PythonBigInt(littleEndianBytes: withUnsafeBytes(of: Int64(value).littleEndian) { Array($0) }).littleEndianBytes)
        }
    }

    private mutating func emitLong(_ bytes: [UInt8]) {
        if bytes.count < 256 {
            emit([Opcode.long1, UInt8(bytes.count)])
        } else {
            emit([Opcode.long4])
            emitInteger(Int32(bytes.count))
        }
        emit(bytes)
    }

    private mutating func emitFloat(_ value: Double) {
        emit([Opcode.binFloat])
        emitInteger(value.bitPattern.bigEndian.littleEndian == value.bitPattern ? value.bitPattern.bigEndian : value.bitPattern.bigEndian)
    }

    /// Items between MARK and `opcode`, in batches as Python writes them.
    private mutating func batched(_ items: [PythonValue], _ opcode: UInt8, depth: Int) throws {
        var start = 0
        while start < items.count {
            let end = min(start + Self.batchSize, items.count)
            emit([Opcode.mark])
            for item in items[start..<end] { try save(item, depth: depth + 1) }
            emit([opcode])
            start = end
        }
    }

    private mutating func save(_ value: PythonValue, depth: Int) throws {
        guard depth <= PickleLimits().maxDepth else { throw PickleError(.notPlainData, "the value nests deeper than \(PickleLimits().maxDepth) levels, more than a load here reads") }
        switch value {
        case .none: emit([Opcode.none])
        case .bool(let flag): emit([flag ? Opcode.newTrue : Opcode.newFalse])
        case .int(let number): emitInt(number)
        case .bigInt(let number): emitLong(number.littleEndianBytes)
        case .float(let number): emitFloat(number)
        case .complex(let real, let imaginary):
            emitGlobal("builtins", "complex")
            emitFloat(real)
            emitFloat(imaginary)
            emit([Opcode.tuple2, Opcode.reduce])
        case .string(let text): emitString(text)
        case .bytes(let bytes): emitBytes(bytes)
        case .byteArray(let bytes):
            emitGlobal("builtins", "bytearray")
            emitBytes(bytes)
            emit([Opcode.tuple1, Opcode.reduce])
        case .list(let items):
            emit([Opcode.emptyList])
            try batched(items, Opcode.appends, depth: depth)
        case .tuple(let items):
            if items.isEmpty {
                emit([Opcode.emptyTuple])
            } else if items.count <= 3 {
                for item in items { try save(item, depth: depth + 1) }
                emit([Opcode.tuple1 + UInt8(items.count - 1)])
            } else {
                emit([Opcode.mark])
                for item in items { try save(item, depth: depth + 1) }
                emit([Opcode.tuple])
            }
        case .dict(let entries):
            emit([Opcode.emptyDict])
            try batched(entries.flatMap { [$0.key, $0.value] }, Opcode.setItems, depth: depth)
        case .set(let items):
            emit([Opcode.emptySet])
            try batched(items, Opcode.addItems, depth: depth)
        case .frozenSet(let items):
            emit([Opcode.mark])
            for item in items { try save(item, depth: depth + 1) }
            emit([Opcode.frozenSet])
        case .array(let array): try saveArray(array)
        case .numpyScalar(let array):
            // Written as the Python number it holds: numpy's scalar constructor moved between
            // numpy versions (numpy.core / numpy._core), a plain number reads everywhere.
            try save(array.normalized().element(atNormalized: 0), depth: depth + 1)
        case .dtype(let dtype): try saveDType(dtype)
        case .global(let module, let name):
            throw PickleError(.notPlainData, "a reference to \(module).\(name) is not plain data: Python would import it when loading, so it is not written")
        case .object(let object):
            throw PickleError(.notPlainData, "an object of class \(object.className) is not plain data: Python would construct it when loading, so it is not written")
        }
    }

    private mutating func saveDType(_ dtype: NumpyDType) throws {
        guard dtype.isNumeric else {
            throw PickleError(.notPlainData, "numpy arrays of \(dtype) are not written (numeric data types only)")
        }
        emitGlobal("numpy", "dtype")
        emitString("\(dtype.kind)\(dtype.itemSize)")
        emit([Opcode.newFalse, Opcode.newTrue, Opcode.tuple3, Opcode.reduce])
        // The state numpy writes for a simple dtype: (version, byte order, subarray, names, fields, elsize, alignment, flags).
        emit([Opcode.mark])
        emitInt(3)
        emitString(dtype.itemSize == 1 ? "|" : dtype.isBigEndian ? ">" : "<")
        emit([Opcode.none, Opcode.none, Opcode.none])
        emitInt(-1)
        emitInt(-1)
        emitInt(0)
        emit([Opcode.tuple, Opcode.build])
    }

    /// joblib's layout: the wrapper object and its state, then (outside the pickle opcodes) a
    /// padding length byte, that many 0xFF bytes, and the array's bytes as stored.
    private mutating func saveArray(_ array: NumpyArray) throws {
        emitGlobal("joblib.numpy_pickle", "NumpyArrayWrapper")
        emit([Opcode.emptyTuple, Opcode.newObj, Opcode.emptyDict, Opcode.mark])
        emitString("subclass")
        emitGlobal("numpy", "ndarray")
        emitString("shape")
        try save(.tuple(array.shape.map { .int($0) }), depth: 1)
        emitString("order")
        emitString(array.isFortranOrder && array.shape.count > 1 ? "F" : "C")
        emitString("dtype")
        try saveDType(array.dtype)
        emitString("allow_mmap")
        emit([Opcode.newTrue])
        emitString("numpy_array_alignment_bytes")
        emitInt(Self.arrayAlignment)
        emit([Opcode.setItems, Opcode.build])
        let padding = Self.arrayAlignment - (position + 1) % Self.arrayAlignment
        emit([UInt8(padding)] + [UInt8](repeating: 0xFF, count: padding))
        try flush()
        try array.withUnsafeBytes { try output($0) }
        position += array.buffer.count
    }
}
