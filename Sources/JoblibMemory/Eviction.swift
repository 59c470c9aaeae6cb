import JoblibSystem
import SystemPackage

/// One entry as eviction sees it.
struct EntryInfo: Sendable {
    var directory: FilePath
    /// Output plus metadata, in bytes.
    var size: Int
    /// The output's access time (the last hit), in seconds since 1970.
    var lastAccess: Double
}

/// What `reduceSize` did.
struct EvictionResult: Sendable {
    var entriesBefore: Int
    var bytesBefore: Int
    var removedEntries: Int
    var removedBytes: Int
}

extension CacheStore {
    /// Every entry of every function, with one `fstatat` per file (two per entry).
    func scanEntries() throws -> [EntryInfo] {
        var entries: [EntryInfo] = []
        let functions = try scanSubdirectories(root, files: [], filter: { !$0.hasPrefix(".") })
        for function in functions {
            let directory = root.appending(function.name)
            let found = try scanSubdirectories(directory, files: [Self.outputName, Self.metadataName], filter: Self.isEntryName)
            for entry in found {
                let output = entry.files[0]
                let size = (output?.size ?? 0) + (entry.files[1]?.size ?? 0)
                // An entry without output (half removed by hand) is the oldest of all: it goes first.
                let lastAccess = output?.accessTime ?? 0
                entries.append(EntryInfo(directory: directory.appending(entry.name), size: size, lastAccess: lastAccess))
            }
        }
        return entries
    }

    /// Removes least recently accessed entries until all limits hold: at most `bytesLimit` bytes,
    /// at most `itemsLimit` entries, and none last accessed more than `ageLimit` seconds ago.
    /// With `onlyIfOver`, nothing is evicted unless the cache holds more than that many bytes.
    func reduceSize(bytesLimit: Int?, itemsLimit: Int?, ageLimit: Double?, onlyIfOver: Int? = nil) throws -> EvictionResult {
        let entries = try scanEntries()
        let totalBytes = entries.reduce(0) { $0 + $1.size }
        var result = EvictionResult(entriesBefore: entries.count, bytesBefore: totalBytes, removedEntries: 0, removedBytes: 0)
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
