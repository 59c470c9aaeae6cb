import JoblibCoding
import JoblibSystem
import SystemPackage

/// `<function>/.metadata-sizes`: what the last scan of a function directory learnt about its
/// entries' sizes, so that the first scan by a new process (`reduceSize` of a fresh `Memory`,
/// `joblib cache prune`) stats one file per entry instead of two, and a scan that needs no
/// access times (`CacheStore.sizes()`, when `reduceSize` has nothing to evict) none at all.
///
/// A hint, never trusted blindly: a record's metadata size is used only for an entry whose output
/// has the same inode and modification time as when the record was made (a replaced entry has a
/// new output), and its sizes without any stat only for an entry directory listed under the same
/// inode number (a replacement is a new directory). A missing, truncated or damaged file (its
/// checksum fails), or one of another version, is ignored, and the next scan writes a whole new
/// one (temporary file, then `rename`), so a crash never leaves a half-written index in use.
///
/// Layout, little-endian: the 8-byte magic `JLMSIZE2`, the record count (UInt64), that many
/// 56-byte records (key high, key low, entry directory inode, output inode, output modification
/// time as the bits of a Double, output size, metadata size, each 64 bits), then the XXH3-64 of
/// everything before it. Version 1 (`JLMSIZE1`, 40-byte records without the directory inode and
/// output size, written before 2026-12) is ignored like a damaged index and replaced.
enum MetadataSizeIndex {
    static let fileName = ".metadata-sizes"
    private static let magic: UInt64 = 0x3245_5A49_534D_4C4A  // "JLMSIZE2" read as little-endian
    /// Version 1's magic, "JLMSIZE1": such an index is not read (tests write one).
    static let firstVersionMagic: UInt64 = 0x3145_5A49_534D_4C4A
    private static let recordSize = 56
    /// A limit far above any real index (a million entries is 56 MB), so a foreign file is refused.
    private static let maximumSize = 128 << 20

    /// The records of the index in `functionDirectory`; empty when there is none or it is unusable.
    static func read(_ functionDirectory: FilePath) -> [MetadataSizes.Key: MetadataSizes.Known] {
        let contents: FileContents?
        do {
            contents = try readSmallFile(functionDirectory.appending(fileName), touchOlderThan: nil, limit: maximumSize)
        } catch {
            // Unreadable (a FIFO, no permission, too large): the scan stats every metadata file
            // instead, and its write of a new index reports what is wrong with the location.
            return [:]
        }
        guard let bytes = contents?.bytes else { return [:] }
        return bytes.withUnsafeBytes(parse) ?? [:]
    }

    /// Parses an index; nil when it is not one or is damaged.
    static func parse(_ bytes: UnsafeRawBufferPointer) -> [MetadataSizes.Key: MetadataSizes.Known]? {
        guard bytes.count >= 24, bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self) == magic.littleEndian else { return nil }
        let count = Int(truncatingIfNeeded: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        guard count >= 0, count <= (bytes.count - 24) / recordSize, bytes.count == 24 + count * recordSize else { return nil }
        let body = UnsafeRawBufferPointer(rebasing: bytes[0..<(16 + count * recordSize)])
        guard xxh3Digest64(body) == UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: body.count, as: UInt64.self)) else { return nil }
        var records: [MetadataSizes.Key: MetadataSizes.Known] = [:]
        records.reserveCapacity(count)
        for index in 0..<count {
            let base = 16 + index * recordSize
            func field(_ number: Int) -> UInt64 { UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: base + 8 * number, as: UInt64.self)) }
            let outputSize = Int(truncatingIfNeeded: field(5))
            let size = Int(truncatingIfNeeded: field(6))
            guard size >= 0, outputSize >= 0 else { return nil }
            records[MetadataSizes.Key(high: field(0), low: field(1))] = MetadataSizes.Known(
                directoryInode: field(2), outputInode: field(3), outputModified: Double(bitPattern: field(4)),
                outputSize: outputSize, size: size)
        }
        return records
    }

    /// The bytes of an index holding `records`.
    static func encode<Records: Collection<(key: MetadataSizes.Key, value: MetadataSizes.Known)>>(_ records: Records) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24 + records.count * recordSize)
        func append(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
        append(magic)
        append(UInt64(records.count))
        for (key, known) in records {
            append(key.high)
            append(key.low)
            append(known.directoryInode)
            append(known.outputInode)
            append(known.outputModified.bitPattern)
            append(UInt64(known.outputSize))
            append(UInt64(known.size))
        }
        append(bytes.withUnsafeBytes { xxh3Digest64($0) })
        return bytes
    }

    /// Replaces the index in `functionDirectory` with `records`, atomically (not synced: an
    /// index lost in a crash is rebuilt by the next scan).
    static func write(_ records: [(key: MetadataSizes.Key, record: MetadataSizes.Known)], to functionDirectory: FilePath) throws {
        let bytes = encode(records.lazy.map { (key: $0.key, value: $0.record) })
        try writeFileAtomically(to: functionDirectory.appending(fileName), durable: false) { fd in
            try bytes.withUnsafeBytes { try fd.writeAll($0) }
        }
    }
}
