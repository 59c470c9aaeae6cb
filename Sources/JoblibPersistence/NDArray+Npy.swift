import JoblibCoding
import JoblibSystem
import SystemPackage

// numpy's .npy format: "\x93NUMPY", version (major, minor), header length (u16 for 1.x, u32 for
// 2.x and 3.x), a Python dict literal {'descr': …, 'fortran_order': …, 'shape': (…)} padded with
// spaces and a newline to a multiple of 64 bytes, then the raw elements.

private let npyMagic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]

extension NDArray {
    /// Writes the array as a numpy `.npy` file (little-endian, C order), atomically.
    ///
    /// ```swift
    /// try array.write(npyTo: "a.npy")      // numpy.load("a.npy")
    /// ```
    /// - Parameters:
    ///   - path: The file to write; an existing file is replaced.
    ///   - durable: Whether to `fsync` before returning, as for `dump`.
    /// - Throws: ``PersistenceError`` with code `io`.
    public func write(npyTo path: FilePath, durable: Bool = true) throws {
        do {
            let header = npyHeader()
            try writeFileAtomically(to: path, durable: durable) { fd in
                try header.withUnsafeBytes { try fd.writeAll($0) }
                try withUnsafeBufferPointer { try fd.writeAll(UnsafeRawBufferPointer($0)) }
            }
        } catch {
            throw PersistenceError.wrapping(error, path: path.string, decoding: false)
        }
    }

    /// Writes the array as a numpy `.npy` file; see ``write(npyTo:durable:)-(FilePath,_)``.
    public func write(npyTo path: String, durable: Bool = true) throws {
        try write(npyTo: FilePath(path), durable: durable)
    }

    /// Reads a numpy `.npy` file whose dtype matches `Element`.
    ///
    /// Little- and big-endian files are read (big-endian ones are byte-swapped); Fortran-order
    /// arrays are converted to row-major. numpy's `bool` reads as `NDArray<UInt8>` or
    /// `NDArray<Int8>` (0 and 1). Object and structured dtypes are rejected.
    ///
    /// ```swift
    /// let a = try NDArray<Double>(npyFrom: "a.npy")   // numpy.save("a.npy", x) with x.dtype == float64
    /// ```
    /// - Throws: ``PersistenceError`` with code `notOurFile` (not a `.npy` file),
    ///   `newerFormatVersion`, `typeMismatch` (another dtype), `unsupportedFeature`,
    ///   `corruptHeader`, `truncated` or `io`.
    public init(npyFrom path: FilePath) throws {
        do {
            self = try withRegularFile(path, .readOnly) { fd in
                let size = try fd.fileSize()
                let region = try MemoryMapping(fd: fd, offset: 0, count: size, access: .readOnly)
                return try withExtendedLifetime(region) { try Self(npyBytes: region.bytes) }
            }
        } catch {
            throw PersistenceError.wrapping(error, path: path.string, decoding: true)
        }
    }

    /// Reads a numpy `.npy` file; see ``init(npyFrom:)-(FilePath)``.
    public init(npyFrom path: String) throws {
        try self.init(npyFrom: FilePath(path))
    }

    /// numpy's spelling of the element type, little-endian (`"<f8"`, `"|u1"`).
    static var npyDescriptor: String {
        let type = Element.bulkElementType
        let kind = type.name.hasPrefix("float") ? "f" : type.name.hasPrefix("uint") ? "u" : "i"
        return "\(type.byteWidth == 1 ? "|" : "<")\(kind)\(type.byteWidth)"
    }

    func npyHeader() -> [UInt8] {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var dict = "{'descr': '\(Self.npyDescriptor)', 'fortran_order': False, 'shape': \(shapeText), }"
        let longHeader = dict.utf8.count + 1 + 10 > 65535
        let prefixSize = longHeader ? 12 : 10
        let padding = (64 - (prefixSize + dict.utf8.count + 1) % 64) % 64
        dict += String(repeating: " ", count: padding) + "\n"
        var bytes = npyMagic + [longHeader ? 2 : 1, 0]
        if longHeader {
            bytes.appendLittleEndian(UInt32(dict.utf8.count))
        } else {
            bytes.appendLittleEndian(UInt16(dict.utf8.count))
        }
        return bytes + Array(dict.utf8)
    }

    /// Parses a whole `.npy` file held in memory; validates everything before copying.
    init(npyBytes bytes: UnsafeRawBufferPointer) throws(PersistenceError) {
        guard bytes.count >= 8, bytes.prefix(6).elementsEqual(npyMagic) else {
            if bytes.count < 8 && !bytes.isEmpty && npyMagic.starts(with: bytes.prefix(6)) {
                throw PersistenceError(.truncated, "the .npy file ends inside its signature")
            }
            throw PersistenceError(.notOurFile, "the file is not a numpy .npy file")
        }
        let major = bytes[6]
        guard (1...3).contains(major) else {
            throw PersistenceError(.newerFormatVersion, ".npy format version \(major).\(bytes[7]) is not supported (1.0–3.0 are)")
        }
        let lengthSize = major == 1 ? 2 : 4
        guard bytes.count >= 8 + lengthSize else { throw PersistenceError(.truncated, "the .npy file ends inside its header length") }
        let headerLength = major == 1
            ? Int(bytes.readLittleEndian(UInt16.self, at: 8)) : Int(bytes.readLittleEndian(UInt32.self, at: 8))
        let headerStart = 8 + lengthSize
        guard headerLength <= bytes.count - headerStart else {
            throw PersistenceError(.truncated, "the .npy header declares \(headerLength) bytes but the file ends first")
        }
        let header = try NpyHeader(parsing: UnsafeRawBufferPointer(rebasing: bytes[headerStart..<headerStart + headerLength]))
        let swapped = try header.needsByteSwap(toRead: Element.bulkElementType)
        guard let count = Self.elementCount(of: header.shape) else {
            throw PersistenceError(.corruptHeader, "the .npy shape \(header.shape) is impossible")
        }
        let dataStart = headerStart + headerLength
        let available = bytes.count - dataStart
        let width = Element.bulkElementType.byteWidth
        guard count <= available / width else {
            throw PersistenceError(.truncated, "the .npy shape \(header.shape) needs \(count) × \(width) bytes but \(available) follow the header")
        }
        guard count * width == available else {
            throw PersistenceError(.corruptHeader, "\(available - count * width) bytes follow the .npy array data")
        }
        let data = UnsafeRawBufferPointer(rebasing: bytes[dataStart..<dataStart + count * width])
        var storage = NDArrayStorage<Element>(copying: data, count: count)
        if swapped { Self.byteSwap(storage, width: width) }
        if header.fortranOrder && header.shape.count > 1 {
            storage = Self.rowMajor(fromColumnMajor: storage, shape: header.shape)
        }
        self.init(shape: header.shape, storage: storage)
    }

    private static func byteSwap(_ storage: NDArrayStorage<Element>, width: Int) {
        guard let base = storage.base else { return }
        let raw = UnsafeMutableRawBufferPointer(start: UnsafeMutableRawPointer(base), count: storage.count * width)
        for start in stride(from: 0, to: raw.count, by: width) {
            raw[start..<start + width].reverse()
        }
    }

    private static func rowMajor(fromColumnMajor source: NDArrayStorage<Element>, shape: [Int]) -> NDArrayStorage<Element> {
        var strides = [Int](repeating: 1, count: shape.count)
        for axis in shape.indices.dropFirst() { strides[axis] = strides[axis - 1] * shape[axis - 1] }
        return NDArrayStorage(count: source.count) { target in
            guard source.count > 0 else { return }
            var index = [Int](repeating: 0, count: shape.count)
            for position in 0..<source.count {
                var offset = 0
                for axis in shape.indices { offset += index[axis] * strides[axis] }
                target.initializeElement(at: position, to: source.base![offset])
                var axis = shape.count - 1
                while axis >= 0 {
                    index[axis] += 1
                    if index[axis] < shape[axis] { break }
                    index[axis] = 0
                    axis -= 1
                }
            }
        }
    }
}
