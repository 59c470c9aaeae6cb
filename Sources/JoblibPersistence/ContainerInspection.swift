import JoblibCoding
import JoblibSystem
import SystemPackage

// What `joblib inspect` and `joblib hash` learn about a file without knowing the type of the
// value inside: the container's structure, the layout of the value, its arrays, and whether
// every checksum holds. Same checks as `load`, in the same order (FileFormat.md), so a file that
// inspects cleanly loads cleanly as the right type.

/// A container examined by ``inspectContainer(at:)``.
package struct ContainerReport: Sendable, Encodable {
    /// The file's size on disk.
    package var fileBytes: Int
    /// `none` or the compression algorithm's name (`zstd`…), recognised from the first bytes.
    package var compression: String
    /// The container's size (after decompression).
    package var containerBytes: Int
    package var formatVersion: Int
    /// The Swift type that was dumped (format version 2 on; nil for older files).
    package var typeName: String?
    /// Whether a `.readWrite` mapping changed arrays in place (their checksums are then skipped).
    package var checksumsStale: Bool
    /// The value's encoded size.
    package var valueBytes: Int
    package var sections: [SectionReport]
    /// Every numeric array in the value, in encoding order.
    package var arrays: [ArrayReport]
    /// The value's outline: containers, their keys and the kinds of their items.
    package var layout: ValueLayout
    /// XXH3-128 of the container bytes (after decompression): equal for files that hold the same
    /// container, whatever their compression.
    package var contentDigest: String
    /// Whether every section matched its checksum (trailer and metadata checksums hold, or the
    /// report would not exist).
    package var checksumsVerified: Bool { sections.allSatisfy { $0.checksum != .mismatch } }
}

/// One raw array section of a container.
package struct SectionReport: Sendable, Encodable {
    package enum Checksum: String, Sendable, Encodable { case ok, mismatch, skipped }
    package var index: Int
    package var offset: Int
    package var bytes: Int
    package var count: Int
    package var dtype: String
    package var checksum: Checksum
}

/// A numeric array found in the value.
package struct ArrayReport: Sendable, Encodable {
    /// Where it is in the value, as a key path (`weights`, `layers[2].bias`).
    package var path: String
    package var dtype: String
    /// The `NDArray` shape, or `[count]` for a plain array.
    package var shape: [Int]
    package var bytes: Int
    /// The section holding it, or nil when it is stored inline in the value.
    package var section: Int?
}

/// One node of a value's outline.
package struct ValueLayout: Sendable, Encodable {
    /// `struct`, `list`, `ndarray`, `array`, `string`, `int64`, `float64`, `bool`, `nil`…
    package var kind: String
    /// The key (or `[index]`) under which the node sits in its parent.
    package var key: String?
    /// A short description: a scalar's value, a container's item count, an array's dtype and shape.
    package var summary: String
    package var children: [ValueLayout]
    /// Items of the container not listed in ``children`` (outlines stay short).
    package var omittedChildren: Int
}

/// Examines the container in `path` and verifies every checksum, never trusting a byte of it.
///
/// - Throws: ``PersistenceError`` with the codes of `load` (`notOurFile`, `truncated`,
///   `checksumMismatch`, `corruptHeader`, `newerFormatVersion`, `decompressionFailed`, `tooLarge`,
///   `outOfMemory`, `notRegularFile`, `io`).
///   A section whose checksum fails does not throw: it is reported as a mismatch.
package func inspectContainer(at path: FilePath, maximumSize: ByteCount = defaultMaximumLoadSize) throws(PersistenceError) -> ContainerReport {
    do {
        return try withContainerBytes(path, maximumSize: maximumSize.bytes) { bytes, fileBytes, algorithm in
            let layout = try parseContainer(bytes)
            let stale = layout.flags & ContainerFlags.checksumsStale != 0
            let sections = layout.entries.enumerated().map { index, entry in
                let data = UnsafeRawBufferPointer(rebasing: bytes[entry.offset..<entry.offset + entry.byteCount])
                let checksum: SectionReport.Checksum = stale ? .skipped : (xxh3Digest(data) == entry.digest ? .ok : .mismatch)
                return SectionReport(
                    index: index, offset: entry.offset, bytes: entry.byteCount, count: entry.count,
                    dtype: entry.elementType.name, checksum: checksum)
            }
            var walker = ValueWalker(bytes: layout.value, sections: layout.entries)
            let (outline, end) = try walker.node(at: 0, key: nil, path: "", depth: 0)
            guard end == layout.value.count else {
                throw PersistenceError(.corruptHeader, "\(layout.value.count - end) bytes follow the stored value")
            }
            return ContainerReport(
                fileBytes: fileBytes, compression: algorithm?.rawValue ?? "none", containerBytes: bytes.count,
                formatVersion: Int(layout.header.version), typeName: layout.header.typeName(in: bytes), checksumsStale: stale,
                valueBytes: layout.value.count, sections: sections, arrays: walker.arrays, layout: outline,
                contentDigest: xxh3Digest(bytes).hexString)
        }
    } catch {
        throw PersistenceError.wrapping(error, path: path.string, decoding: true)
    }
}

/// The digests `joblib hash` prints for any file.
package struct FileDigests: Sendable, Encodable {
    /// XXH3-128 of the file's bytes as stored.
    package var fileDigest: String
    /// For a swift-joblib container: XXH3-128 of the container after decompression (the same
    /// for every compression of one dump), else nil.
    package var contentDigest: String?
    /// For a container: `none` or its compression.
    package var compression: String?
    package var fileBytes: Int
}

/// Hashes a file, and its container content when it is one. A container is checked as `load`
/// checks it (structure and every checksum), so a damaged one is an error, not a digest.
///
/// - Throws: ``PersistenceError`` with code `notRegularFile`, `io`, or for a damaged container
///   the codes of `load` (`truncated`, `checksumMismatch`, `corruptHeader`, `decompressionFailed`…).
package func digestFile(at path: FilePath, maximumSize: ByteCount = defaultMaximumLoadSize) throws(PersistenceError) -> FileDigests {
    do {
        return try withRegularFile(path, .readOnly) { fd in
            let size = try fd.fileSize()
            guard size > 0 else {
                return FileDigests(fileDigest: xxh3Digest(UnsafeRawBufferPointer(start: nil, count: 0)).hexString, contentDigest: nil, compression: nil, fileBytes: 0)
            }
            let region = try MemoryMapping(fd: fd, offset: 0, count: size, access: .readOnly)
            let fileDigest = xxh3Digest(region.bytes).hexString
            if region.bytes.starts(with: containerMagic) {
                try verifyContainer(region.bytes)
                return FileDigests(fileDigest: fileDigest, contentDigest: fileDigest, compression: "none", fileBytes: size)
            }
            guard let algorithm = Compression.detect(region.bytes.prefix(8)) else {
                return FileDigests(fileDigest: fileDigest, contentDigest: nil, compression: nil, fileBytes: size)
            }
            // A compressed stream is ours when its first bytes are a container; it is then checked
            // whole. Anything else (or a stream that fails before saying what it holds) is a file.
            let buffer: ByteBuffer
            do {
                buffer = try decompress(region.bytes, algorithm, maximumSize: maximumSize.bytes)
            } catch let error as PersistenceError where error.code == .notOurFile {
                return FileDigests(fileDigest: fileDigest, contentDigest: nil, compression: nil, fileBytes: size)
            } catch let error as PersistenceError where error.code == .decompressionFailed || error.code == .truncated {
                // Damaged: a container's (its first bytes say so) is an error. When nothing came
                // out, the stream is damaged from its start: an error too, except for zlib, whose
                // two-byte header other files match by chance.
                let prefix = decompressedPrefix(region.bytes, algorithm, count: containerMagic.count)
                guard prefix == containerMagic || (prefix.isEmpty && algorithm != .zlib) else {
                    return FileDigests(fileDigest: fileDigest, contentDigest: nil, compression: nil, fileBytes: size)
                }
                throw error
            }
            try verifyContainer(buffer.bytes)
            return FileDigests(fileDigest: fileDigest, contentDigest: xxh3Digest(buffer.bytes).hexString, compression: algorithm.rawValue, fileBytes: size)
        }
    } catch {
        throw PersistenceError.wrapping(error, path: path.string, decoding: true)
    }
}

/// Checks a container's structure and every section checksum (unless a `.readWrite` mapping
/// marked them stale).
private func verifyContainer(_ bytes: UnsafeRawBufferPointer) throws(PersistenceError) {
    let layout = try parseContainer(bytes)
    guard layout.flags & ContainerFlags.checksumsStale == 0 else { return }
    for (index, entry) in layout.entries.enumerated()
    where xxh3Digest(UnsafeRawBufferPointer(rebasing: bytes[entry.offset..<entry.offset + entry.byteCount])) != entry.digest {
        throw PersistenceError(.checksumMismatch, "array section \(index) (\(entry.count) × \(entry.elementType)) does not match its checksum: the file is corrupt")
    }
}

/// Calls `body` with the container bytes of the file (mapped, or decompressed into memory).
private func withContainerBytes<R>(
    _ path: FilePath, maximumSize: Int, _ body: (UnsafeRawBufferPointer, Int, Compression.Algorithm?) throws -> R
) throws -> R {
    try withRegularFile(path, .readOnly) { fd in
        let size = try fd.fileSize()
        var prefix = [UInt8](repeating: 0, count: min(size, 8))
        let got = try prefix.withUnsafeMutableBytes { try fd.readFully(into: $0, at: 0) }
        prefix.removeLast(prefix.count - got)
        if !prefix.starts(with: containerMagic), let algorithm = Compression.detect(prefix) {
            let buffer: ByteBuffer
            do {
                buffer = try decompress(fd: fd, size: size, algorithm, maximumSize: maximumSize)
            } catch let error as PersistenceError where algorithm == .zlib && error.code == .decompressionFailed {
                // zlib's two-byte header also matches some text and binary files by chance.
                throw PersistenceError(
                    .notOurFile, "the file is not a swift-joblib container (its first bytes look like a zlib header, but it does not decompress)")
            }
            return try body(buffer.bytes, size, algorithm)
        }
        try prefix.withUnsafeBytes { try checkSignature($0) }
        let region = try MemoryMapping(fd: fd, offset: 0, count: size, access: .readOnly)
        return try body(region.bytes, size, nil)
    }
}

/// Reads the tagged value format (BinaryFormat.md) into an outline, checking every length.
private struct ValueWalker {
    let bytes: UnsafeRawBufferPointer
    let sections: [SectionEntry]
    var arrays: [ArrayReport] = []
    /// Children listed per container; the others are counted.
    static let listedChildren = 12
    /// Deeper nodes are checked and skipped but not listed.
    static let listedDepth = 8
    static let maxDepth = 256

    init(bytes: UnsafeRawBufferPointer, sections: [SectionEntry]) {
        self.bytes = bytes
        self.sections = sections
    }

    func corrupt(_ message: String, _ offset: Int) -> PersistenceError {
        PersistenceError(.corruptHeader, "the stored value is malformed at byte \(offset): \(message)")
    }

    func byte(_ offset: Int) throws(PersistenceError) -> UInt8 {
        guard offset >= 0, offset < bytes.count else { throw corrupt("it ends early", offset) }
        return bytes[offset]
    }

    func require(_ count: Int, at offset: Int) throws(PersistenceError) {
        guard offset <= bytes.count, count <= bytes.count - offset else { throw corrupt("it ends inside an item", offset) }
    }

    func varint(_ offset: inout Int) throws(PersistenceError) -> Int {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try self.byte(offset)
            offset += 1
            guard shift < 64, !(shift == 63 && byte > 1) else { throw corrupt("a length does not fit in 64 bits", offset) }
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { break }
            shift += 7
        }
        guard result <= UInt64(Int.max) else { throw corrupt("a length is impossible", offset) }
        return Int(result)
    }

    func string(_ offset: inout Int) throws(PersistenceError) -> String {
        let length = try varint(&offset)
        try require(length, at: offset)
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + length]), as: UTF8.self)
        offset += length
        return text
    }

    func elementType(_ offset: Int) throws(PersistenceError) -> BulkElementType {
        let code = try byte(offset)
        guard let type = BulkElementType(code: code) else { throw corrupt("unknown element type \(code)", offset) }
        return type
    }

    /// The node starting at `offset` and the offset just past it.
    mutating func node(at start: Int, key: String?, path: String, depth: Int) throws(PersistenceError) -> (ValueLayout, Int) {
        guard depth <= Self.maxDepth else { throw corrupt("values are nested more than \(Self.maxDepth) levels deep", start) }
        let raw = try byte(start)
        guard let tag = Tag(rawValue: raw), tag != .unordered else { throw corrupt("byte 0x\(String(raw, radix: 16)) is not a value tag", start) }
        var offset = start + 1
        func leaf(_ kind: String, _ summary: String) -> ValueLayout {
            ValueLayout(kind: kind, key: key, summary: summary, children: [], omittedChildren: 0)
        }
        func number<T: FixedWidthInteger>(_: T.Type) throws(PersistenceError) -> T {
            try require(MemoryLayout<T>.size, at: offset)
            defer { offset += MemoryLayout<T>.size }
            return bytes.readLittleEndian(T.self, at: offset)
        }
        switch tag {
        case .null: return (leaf("nil", "nil"), offset)
        case .falseValue: return (leaf("bool", "false"), offset)
        case .trueValue: return (leaf("bool", "true"), offset)
        case .int8: return (leaf("int8", "\(try number(Int8.self))"), offset)
        case .int16: return (leaf("int16", "\(try number(Int16.self))"), offset)
        case .int32: return (leaf("int32", "\(try number(Int32.self))"), offset)
        case .int64: return (leaf("int64", "\(try number(Int64.self))"), offset)
        case .uint8: return (leaf("uint8", "\(try number(UInt8.self))"), offset)
        case .uint16: return (leaf("uint16", "\(try number(UInt16.self))"), offset)
        case .uint32: return (leaf("uint32", "\(try number(UInt32.self))"), offset)
        case .uint64: return (leaf("uint64", "\(try number(UInt64.self))"), offset)
        case .float16: return (leaf("float16", "0x\(String(try number(UInt16.self), radix: 16))"), offset)
        case .float32: return (leaf("float32", "\(Float(bitPattern: try number(UInt32.self)))"), offset)
        case .float64: return (leaf("float64", "\(Double(bitPattern: try number(UInt64.self)))"), offset)
        case .string:
            let text = try string(&offset)
            let shown = text.count > 48 ? String(text.prefix(45)) + "…" : text
            return (leaf("string", "\"\(shown)\""), offset)
        case .bulk, .bulkSection:
            let (info, end) = try array(at: start, path: path)
            arrays.append(info)
            return (leaf("array", describe(info)), end)
        case .keyed, .unkeyed:
            var children: [ValueLayout] = []
            var total = 0
            var entries: [(key: String, start: Int)] = []
            while true {
                let marker = try byte(offset)
                offset += 1
                if marker == endMarker { break }
                guard marker == entryMarker else { throw corrupt("byte 0x\(String(marker, radix: 16)) is neither an entry nor the end", offset - 1) }
                let childKey = tag == .keyed ? try string(&offset) : "[\(total)]"
                entries.append((childKey, offset))
                let childPath = tag == .keyed ? (path.isEmpty ? childKey : "\(path).\(childKey)") : "\(path)\(childKey)"
                let (child, end) = try node(at: offset, key: childKey, path: childPath, depth: depth + 1)
                if total < Self.listedChildren && depth < Self.listedDepth { children.append(child) }
                total += 1
                offset = end
            }
            // An NDArray: a struct of exactly `shape` (inline Ints) and `elements` (a numeric array)
            // whose count is the shape's product. It is listed as one array with that shape.
            if tag == .keyed, entries.map(\.key) == ["shape", "elements"], arrays.count >= 2,
               let shape = try? shapeArray(at: entries[0].start),
               arrays[arrays.count - 2].section == nil, arrays[arrays.count - 2].dtype == "int64",
               shape.allSatisfy({ $0 >= 0 }),
               let product = shape.reduce(Optional(1), { partial, dimension in
                   partial.flatMap { let (p, o) = $0.multipliedReportingOverflow(by: dimension); return o ? nil : p } }),
               product == arrays[arrays.count - 1].shape[0]
            {
                var elements = arrays.removeLast()
                arrays.removeLast()  // the shape's own Ints
                elements.shape = shape
                elements.path = path.isEmpty ? "(value)" : path
                arrays.append(elements)
                return (leaf("ndarray", describe(elements)), offset)
            }
            let kind = tag == .keyed ? "struct" : "list"
            let summary = tag == .keyed ? "\(total) field\(total == 1 ? "" : "s")" : "\(total) item\(total == 1 ? "" : "s")"
            return (ValueLayout(kind: kind, key: key, summary: summary, children: children, omittedChildren: total - children.count), offset)
        case .unordered:
            throw corrupt("a hashing-only tag", start)
        }
    }

    /// A bulk array item (tag 40 or 41) starting at `start`.
    func array(at start: Int, path: String) throws(PersistenceError) -> (ArrayReport, Int) {
        var offset = start + 1
        let type = try elementType(offset)
        offset += 1
        let count = try varint(&offset)
        let name = path.isEmpty ? "(value)" : path
        if bytes[start] == Tag.bulk.rawValue {
            let (byteCount, overflow) = count.multipliedReportingOverflow(by: type.byteWidth)
            guard !overflow else { throw corrupt("an array length is impossible", offset) }
            try require(byteCount, at: offset)
            return (ArrayReport(path: name, dtype: type.name, shape: [count], bytes: byteCount, section: nil), offset + byteCount)
        }
        let section = try varint(&offset)
        guard section < sections.count, sections[section].elementType == type, sections[section].count == count else {
            throw corrupt("an array refers to section \(section), which does not hold \(count) × \(type)", offset)
        }
        return (ArrayReport(path: name, dtype: type.name, shape: [count], bytes: sections[section].byteCount, section: section), offset)
    }

    /// The Ints of an inline `shape` array.
    func shapeArray(at start: Int) throws(PersistenceError) -> [Int] {
        guard bytes[start] == Tag.bulk.rawValue, try elementType(start + 1) == .int64 else { throw corrupt("not a shape", start) }
        var offset = start + 2
        let count = try varint(&offset)
        guard count <= 32 else { throw corrupt("not a shape", start) }
        try require(count * 8, at: offset)
        return (0..<count).map { Int(truncatingIfNeeded: bytes.readLittleEndian(Int64.self, at: offset + 8 * $0)) }
    }

    func describe(_ array: ArrayReport) -> String {
        "\(array.dtype) \(array.shape), \(ByteCount(bytes: array.bytes))" + (array.section.map { ", section \($0)" } ?? ", inline")
    }
}
