import JoblibCoding
import JoblibSystem
import JoblibTypes
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

/// Builds a value's outline from the items ``EncodedValueReader`` finds (the value format is read
/// in one place, JoblibCoding), listing its numeric arrays on the way.
private struct ValueWalker {
    let reader: EncodedValueReader
    let sections: [SectionEntry]
    var arrays: [ArrayReport] = []
    /// Children listed per container; the others are counted.
    static let listedChildren = 12
    /// Deeper nodes are checked and skipped but not listed.
    static let listedDepth = 8

    init(bytes: UnsafeRawBufferPointer, sections: [SectionEntry]) {
        reader = EncodedValueReader(bytes: bytes)
        self.sections = sections
    }

    /// The node starting at `start` and the offset just past it; malformed input is a
    /// `corruptHeader` error that says where.
    mutating func node(at start: Int, key: String?, path: String, depth: Int) throws(PersistenceError) -> (ValueLayout, Int) {
        do {
            return try outline(at: start, key: key, path: path, depth: depth)
        } catch let error as PersistenceError {
            throw error
        } catch let error as CodingError {
            throw PersistenceError(.corruptHeader, "the stored value is malformed at byte \(error.offset ?? start): \(error.message)")
        } catch {
            throw PersistenceError(.corruptHeader, "the stored value is malformed: \(error)")
        }
    }

    private mutating func outline(at start: Int, key: String?, path: String, depth: Int) throws -> (ValueLayout, Int) {
        func leaf(_ kind: String, _ summary: String) -> ValueLayout {
            ValueLayout(kind: kind, key: key, summary: summary, children: [], omittedChildren: 0)
        }
        let name = path.isEmpty ? "(value)" : path
        let (item, next) = try reader.item(at: start, depth: depth)
        switch item {
        case .null: return (leaf("nil", "nil"), next)
        case .bool(let value): return (leaf("bool", "\(value)"), next)
        case .signed(let value, let type): return (leaf(type.name, "\(value)"), next)
        case .unsigned(let value, let type): return (leaf(type.name, "\(value)"), next)
        case .float16Bits(let bits): return (leaf("float16", "0x\(String(bits, radix: 16))"), next)
        case .float32(let value): return (leaf("float32", "\(value)"), next)
        case .float64(let value): return (leaf("float64", "\(value)"), next)
        case .string(let text):
            let shown = text.count > 48 ? String(text.prefix(45)) + "…" : text
            return (leaf("string", "\"\(shown)\""), next)
        case .inlineArray(let type, let count, let bytes):
            let info = ArrayReport(path: name, dtype: type.name, shape: [count], bytes: bytes.count, section: nil)
            arrays.append(info)
            return (leaf("array", describe(info)), next)
        case .sectionArray(let type, let count, let section):
            guard section < sections.count, sections[section].elementType == type, sections[section].count == count else {
                throw PersistenceError(
                    .corruptHeader, "the stored value is malformed at byte \(start): an array refers to section \(section), which does not hold \(count) × \(type)")
            }
            let info = ArrayReport(path: name, dtype: type.name, shape: [count], bytes: sections[section].byteCount, section: section)
            arrays.append(info)
            return (leaf("array", describe(info)), next)
        case .container(var container):
            var children: [ValueLayout] = []
            var total = 0
            var entries: [(key: String, item: EncodedItem)] = []
            while let entry = try reader.nextEntry(&container) {
                let childKey = entry.key ?? "[\(total)]"
                let childPath = container.keyed ? (path.isEmpty ? childKey : "\(path).\(childKey)") : "\(path)\(childKey)"
                if container.keyed, entries.count < 3 { entries.append((childKey, try reader.item(at: entry.value, depth: depth + 1).0)) }
                let (child, end) = try outline(at: entry.value, key: childKey, path: childPath, depth: depth + 1)
                if total < Self.listedChildren && depth < Self.listedDepth { children.append(child) }
                total += 1
                reader.entryEnded(&container, at: end)
            }
            if let ndarray = ndarray(entries, path: name) { return (leaf("ndarray", describe(ndarray)), container.end) }
            let kind = container.keyed ? "struct" : "list"
            let summary = container.keyed ? "\(total) field\(total == 1 ? "" : "s")" : "\(total) item\(total == 1 ? "" : "s")"
            return (ValueLayout(kind: kind, key: key, summary: summary, children: children, omittedChildren: total - children.count), container.end)
        }
    }

    /// An `NDArray`: a struct of exactly `shape` (inline Ints) and `elements` (a numeric array)
    /// whose count is the shape's product. It replaces the two arrays just listed by one array
    /// with that shape.
    private mutating func ndarray(_ entries: [(key: String, item: EncodedItem)], path: String) -> ArrayReport? {
        guard entries.count == 2, entries[0].key == "shape", entries[1].key == "elements", arrays.count >= 2,
              case .inlineArray(.int64, let rank, let shapeBytes) = entries[0].item, rank <= 32
        else { return nil }
        switch entries[1].item {
        case .inlineArray, .sectionArray: break
        default: return nil
        }
        let shape = (0..<rank).map { Int(truncatingIfNeeded: Int64(littleEndian: shapeBytes.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self))) }
        guard shape.allSatisfy({ $0 >= 0 }),
              let product = shape.reduce(Optional(1), { partial, dimension in
                  partial.flatMap { let (p, o) = $0.multipliedReportingOverflow(by: dimension); return o ? nil : p } }),
              product == arrays[arrays.count - 1].shape[0]
        else { return nil }
        var elements = arrays.removeLast()
        arrays.removeLast()  // the shape's own Ints
        elements.shape = shape
        elements.path = path
        arrays.append(elements)
        return elements
    }

    func describe(_ array: ArrayReport) -> String {
        "\(array.dtype) \(array.shape), \(ByteCount(bytes: array.bytes))" + (array.section.map { ", section \($0)" } ?? ", inline")
    }
}
