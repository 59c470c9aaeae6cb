import JoblibSystem
import Synchronization
import SystemPackage

/// One entry as eviction sees it.
struct EntryInfo: Sendable {
    /// `<location>/joblib/<function>`.
    var functionDirectory: FilePath
    /// The entry's name (its key) as found on disk.
    var found: EntryDirectoryStatus
    /// Output plus metadata, in bytes.
    var size: Int
    /// The output's access time (the last hit), in seconds since 1970.
    var lastAccess: Double

    /// `<location>/joblib/<function>/<key>`, built only for the entries that go.
    var directory: FilePath { functionDirectory.appending(found.name) }
}

/// The sizes of `metadata.json` files that earlier scans of this location saw, so that a scan
/// stats one file per entry (the output) instead of two (on disk too: `MetadataSizeIndex`).
///
/// `metadata.json` is written once, before its entry is published, and never changed; an entry
/// that is replaced gets a new output file (another inode, another modification time), which
/// makes the remembered size unused. Each scan keeps only the entries it saw, so this holds at
/// most one small record per entry of the cache. A `metadata.json` edited by hand in place is
/// the one change not seen (until the entry's output changes): its old size keeps being counted.
final class MetadataSizes: Sendable {
    struct Key: Hashable {
        var high: UInt64
        var low: UInt64

        /// Half of a digest is as well spread as the whole: hashing one word costs less.
        func hash(into hasher: inout Hasher) { hasher.combine(low) }
    }

    struct Known {
        /// The entry directory's inode as its function directory lists it (`d_ino`).
        var directoryInode: UInt64
        var outputInode: UInt64
        var outputModified: Double
        var outputSize: Int
        /// The size of `metadata.json`.
        var size: Int
    }

    private let known = Mutex<[Key: Known]>([:])

    var current: [Key: Known] { known.withLock { $0 } }

    func replace(with sizes: [Key: Known]) { known.withLock { $0 = sizes } }
}

/// What `reduceSize` did.
struct EvictionResult: Sendable {
    var entriesBefore: Int
    var bytesBefore: Int
    var removedEntries: Int
    var removedBytes: Int
    /// Why a function's size index could not be saved (eviction went on without it).
    var indexError: (any Error)?
}

extension CacheStore {
    /// Every entry of every function: one directory stream per function and one `fstatat` per
    /// entry (its output) relative to the function directory, plus one for its metadata when
    /// neither this location's earlier scans in this process (`MetadataSizes`) nor the function's
    /// size index on disk (`MetadataSizeIndex`) know that entry. A function whose index missed
    /// entries, or named entries that are gone, gets a new index.
    ///
    /// - Returns: the entries, and why an index could not be saved (the scan itself succeeded).
    func scan() throws -> (entries: [EntryInfo], indexError: (any Error)?) {
        try scan(accessTimes: true)
    }

    /// How many entries the cache holds and their bytes, without their access times: an entry
    /// that a record (this process's or the index's) knows under the same directory inode is
    /// counted from the record, without any `fstatat`; the others are examined as by `scan()`.
    ///
    /// An entry directory is published whole and never changed inside (outputs and metadata are
    /// written once, before the `rename` that publishes it); replacing an entry publishes a new
    /// directory, made while the old one still existed, so under another inode number. A record
    /// whose directory inode matches the listing therefore describes the files that are there.
    func sizes() throws -> (entries: Int, bytes: Int, indexError: (any Error)?) {
        let (entries, indexError) = try scan(accessTimes: false)
        return (entries.count, entries.reduce(0) { $0 + $1.size }, indexError)
    }

    /// `scan()`; without `accessTimes`, the entries known by directory inode are not examined
    /// and their `lastAccess` is NaN (for `sizes()` only).
    ///
    /// Dictionary operations are most of a scan's own time once stats are skipped: each entry
    /// costs one lookup (this process's records, else the index) and one insertion (`seen`).
    private func scan(accessTimes: Bool) throws -> (entries: [EntryInfo], indexError: (any Error)?) {
        typealias Key = MetadataSizes.Key
        typealias Known = MetadataSizes.Known
        var entries: [EntryInfo] = []
        var indexError: (any Error)?
        let known = metadataSizes.current
        var seen: [Key: Known] = [:]
        seen.reserveCapacity(known.count)
        defer { metadataSizes.replace(with: seen) }
        let functions = try scanSubdirectories(root, files: [], filter: { !$0.hasPrefix(".") })
        for function in functions {
            let directory = root.appending(function.name)
            // Read only when this process's own record misses an entry: a warm scan reads nothing.
            // A reference the scan's closures share: a `var` that only a nested function set was
            // folded to its initial value by the compiler ("condition always evaluates to false").
            let lookups = RecordLookups(directory: directory)
            /// This process's record of `key` if it passes `matches`, else the index's.
            func recorded(_ key: Key, _ matches: (Known) -> Bool) -> Known? {
                if !known.isEmpty, let record = known[key], matches(record) {
                    lookups.usedOwnRecord = true
                    return record
                }
                if let record = lookups.index[key], matches(record) { return record }
                return nil
            }
            // The records of skipped entries, in the order `skip` accepted them, which is the
            // order the skipped entries are returned in.
            var skippedRecords: [Known] = []
            let found = try scanEntryDirectories(
                directory, first: Self.outputName, second: Self.metadataName,
                knownSecondSize: { entry in
                    guard let output = entry.first else { return nil }
                    let record = recorded(Key(high: entry.high, low: entry.low)) {
                        $0.outputInode == output.inode && $0.outputModified == output.modificationTime
                    }
                    if record == nil { lookups.indexMissed = true }
                    return record?.size
                },
                skip: accessTimes ? nil : { entry in
                    guard entry.inode != 0, let record = recorded(Key(high: entry.high, low: entry.low), { $0.directoryInode == entry.inode }) else {
                        return false
                    }
                    skippedRecords.append(record)
                    return true
                })
            entries.reserveCapacity(entries.count + found.count)
            seen.reserveCapacity(seen.count + found.count)
            var kept: [(key: Key, record: Known)] = []
            kept.reserveCapacity(found.count)
            var skippedCount = 0
            for entry in found {
                let key = Key(high: entry.high, low: entry.low)
                guard entry.examined else {
                    let record = skippedRecords[skippedCount]
                    skippedCount += 1
                    kept.append((key, record))
                    entries.append(EntryInfo(
                        functionDirectory: directory, found: entry, size: record.outputSize + record.size, lastAccess: .nan))
                    continue
                }
                if let output = entry.first {
                    kept.append((key, Known(
                        directoryInode: entry.inode, outputInode: output.inode, outputModified: output.modificationTime,
                        outputSize: output.size, size: entry.secondSize)))
                }
                // An entry without output (half removed by hand) is the oldest of all: it goes first.
                entries.append(EntryInfo(
                    functionDirectory: directory, found: entry, size: (entry.first?.size ?? 0) + entry.secondSize,
                    lastAccess: entry.first?.accessTime ?? 0))
            }
            for (key, record) in kept { seen[key] = record }
            // Rewrite the index when it missed an entry or holds records of entries that are gone.
            // A record taken from the index is the index's; one from this process's own records
            // may differ from an index that was read too (only then is every record compared).
            var staleIndex = false
            if let index = lookups.readIndex {
                staleIndex = index.count != kept.count
                if !staleIndex, lookups.usedOwnRecord {
                    staleIndex = kept.contains { key, record in
                        index[key].map { $0.directoryInode != record.directoryInode || $0.outputInode != record.outputInode } ?? true
                    }
                }
            }
            if lookups.indexMissed || staleIndex {
                do { try MetadataSizeIndex.write(kept, to: directory) } catch { indexError = indexError ?? error }
            }
        }
        return (entries, indexError)
    }

    /// The entries of `scan()`, for callers that only count them (tests, the byte estimate).
    func scanEntries() throws -> [EntryInfo] { try scan().entries }

    /// Removes least recently accessed entries until all limits hold: at most `bytesLimit` bytes,
    /// at most `itemsLimit` entries, and none last accessed more than `ageLimit` seconds ago.
    /// With `onlyIfOver`, nothing is evicted unless the cache holds more than that many bytes.
    ///
    /// Without `ageLimit`, the sizes are counted first (`sizes()`, no access time needed); only
    /// when something must go are the entries scanned for their access times.
    func reduceSize(bytesLimit: Int?, itemsLimit: Int?, ageLimit: Double?, onlyIfOver: Int? = nil) throws -> EvictionResult {
        var countError: (any Error)?
        if ageLimit == nil {
            let counted = try sizes()
            countError = counted.indexError
            let nothingToFree = counted.bytes <= (bytesLimit ?? .max) && counted.entries <= (itemsLimit ?? .max)
            let belowTrigger = onlyIfOver.map { counted.bytes <= $0 } ?? false
            if nothingToFree || belowTrigger {
                return EvictionResult(
                    entriesBefore: counted.entries, bytesBefore: counted.bytes, removedEntries: 0, removedBytes: 0,
                    indexError: counted.indexError)
            }
        }
        let (entries, indexError) = try scan()
        let totalBytes = entries.reduce(0) { $0 + $1.size }
        var result = EvictionResult(
            entriesBefore: entries.count, bytesBefore: totalBytes, removedEntries: 0, removedBytes: 0,
            indexError: indexError ?? countError)
        if let onlyIfOver, totalBytes <= onlyIfOver { return result }
        let bytesToFree = bytesLimit.map { max(0, totalBytes - $0) } ?? 0
        let itemsToFree = itemsLimit.map { max(0, entries.count - $0) } ?? 0
        let oldestAllowed = ageLimit.map { wallClockSeconds() - $0 }
        let anyTooOld = oldestAllowed.map { limit in entries.contains { $0.lastAccess < limit } } ?? false
        guard bytesToFree > 0 || itemsToFree > 0 || anyTooOld else { return result }

        for entry in entries.sorted(by: { $0.lastAccess < $1.lastAccess }) {
            let tooOld = oldestAllowed.map { entry.lastAccess < $0 } ?? false
            if result.removedBytes >= bytesToFree && result.removedEntries >= itemsToFree && !tooOld { break }
            try discard(entry.directory)
            result.removedBytes += entry.size
            result.removedEntries += 1
        }
        return result
    }
}

/// How one function directory's entries were looked up during a scan: the size index (read from
/// disk on first need), whether it missed an entry, whether this process's own records served.
private final class RecordLookups {
    let directory: FilePath
    private(set) var readIndex: [MetadataSizes.Key: MetadataSizes.Known]?
    var indexMissed = false
    var usedOwnRecord = false

    init(directory: FilePath) { self.directory = directory }

    /// The index on disk, read once.
    var index: [MetadataSizes.Key: MetadataSizes.Known] {
        if let readIndex { return readIndex }
        let read = MetadataSizeIndex.read(directory)
        readIndex = read
        return read
    }
}
