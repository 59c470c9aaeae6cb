#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import JoblibCoding
import JoblibPersistence
import JoblibSystem
import SystemPackage

/// The files of one cache location: `<location>/joblib/<function>/<key>/` (CacheLayout.md).
///
/// A class, so that a hit takes it from its `Memory` with at most one reference count (a struct
/// of its path and records would retain and release each on every hit).
final class CacheStore: Sendable {
    /// `<location>/joblib`.
    let root: FilePath
    let compression: Compression
    let mapping: MappingMode?
    /// What this location's scans saw of its entries' metadata sizes (see `MetadataSizes`).
    let metadataSizes = MetadataSizes()
    /// What this process knows of its entries' access times (see `AccessRecords`).
    let accessRecords = AccessRecords()

    static let outputName = "output.joblib"
    static let metadataName = "metadata.json"
    static let functionFileName = "function.json"
    /// Hits within this many seconds of an entry's last recorded access do not touch it again.
    ///
    /// Least-recently-used eviction needs no finer order than this, and a fresh entry (its access
    /// time is its creation) is then not touched by its first hits: setting an access time costs
    /// an ext4 journal update (`futimens`, ~1.3 µs, a fifth of a hit). joblib relies on the
    /// kernel's `relatime`, which records at most one access a day.
    static let accessTimeResolution = 10.0
    /// How far the kernel's file times may lag behind `wallClockSeconds()` (they come from the
    /// clock of the last timer tick): subtracted from the times this process records.
    static let fileClockLag = 0.05

    init(location: FilePath, compression: Compression, mapping: MappingMode?) {
        root = location.appending("joblib")
        self.compression = compression
        self.mapping = mapping
    }

    func functionDirectory(_ name: String) -> FilePath { root.appending(Self.directoryName(name)) }

    /// A function name as one directory name: letters, digits, `.`, `_` and `-` stay, everything
    /// else (a `/`, a space, non-ASCII) becomes `%XX`, so names never escape the cache nor collide.
    static func directoryName(_ name: String) -> String {
        var result = ""
        for byte in name.utf8 {
            let scalar = Unicode.Scalar(byte)
            let plain = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x5F || byte == 0x2D || (byte == 0x2E && !result.isEmpty)
            if plain { result.unicodeScalars.append(scalar) } else { result += "%" + String(byte, radix: 16, uppercase: true).leftPadded(2) }
        }
        return result
    }

    /// Whether `name` looks like an entry directory (32 lowercase hex digits).
    static func isEntryName(_ name: String) -> Bool {
        name.utf8.count == 32 && name.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    // MARK: Reading

    /// What looking up an entry found.
    enum Lookup<Value> {
        case hit(Value)
        case miss
        /// The entry is older than the function's `expiresAfter`.
        case expired
        /// The entry exists but cannot be used; it will be recomputed and replaced.
        case unreadable(any Error & Sendable)
    }

    /// Loads the entry's output; touches its access time when it was last touched long ago.
    func read<Value: Decodable>(
        _ type: Value.Type, entry: FilePath, maximumAge: Double?, warn: (MemoryWarning) -> Void
    ) -> Lookup<Value> {
        let output = entry.appending(Self.outputName)
        do {
            if let mapping {
                guard let status = try fileStatus(output) else { return .miss }
                if let maximumAge, wallClockSeconds() - status.modificationTime > maximumAge { return .expired }
                let value = try load(type, from: output, mapping: mapping) { line in
                    warn(MemoryWarning(.notMapped, line, path: output.string))
                }
                if wallClockSeconds() - status.accessTime > Self.accessTimeResolution {
                    do { try touchAccessTime(output) } catch {
                        warn(MemoryWarning(.accessTimeNotUpdated, "the entry's last access could not be recorded", path: output.string, underlying: error))
                    }
                }
                return .hit(value)
            }
            guard let contents = try readSmallFile(output, touchOlderThan: Self.accessTimeResolution, limit: defaultMaximumLoadSize.bytes) else {
                return .miss
            }
            if let maximumAge, wallClockSeconds() - contents.status.modificationTime > maximumAge { return .expired }
            if let error = contents.touchError {
                warn(MemoryWarning(.accessTimeNotUpdated, "the entry's last access could not be recorded", path: output.string, underlying: error))
            }
            return .hit(try load(type, from: Data(contents.bytes)))
        } catch let error as PersistenceError {
            return .unreadable(error)
        } catch let error as SystemError {
            return .unreadable(error)
        } catch {
            return .unreadable(MemoryError(.corruptEntry, "\(error)", path: output.string))
        }
    }

    /// What a lookup found, its value (if any) handed to the caller's `decode`: the hit path
    /// uses this form, which is not generic, so that a hit instantiates no generic types.
    enum RawLookup {
        case hit
        case miss
        case expired
        case unreadable(any Error & Sendable)
    }

    /// Loads the entry's output through `directory`, an open function directory, and
    /// `relativePath` (`<key>/output.joblib`): the hit path of an unmapped cache. The decoding
    /// is left to `decode`, which receives the file's bytes (valid during the call only) and
    /// returns normally exactly when the result is `.hit`.
    ///
    /// One `openat`, `read` and `close`; plus `fstat` unless `key`'s output is known (from
    /// `accessRecords`) to have been accessed within `accessTimeResolution` and no `maximumAge`
    /// asks for its modification time; plus `futimens` when the status shows an access time
    /// older than that. The bytes are decoded in place from a temporary buffer. `entry` builds
    /// the entry's path for warnings only.
    func read(
        key: HashDigest, in directory: CInt, relativePath: UnsafePointer<CChar>, entry: () -> FilePath,
        maximumAge: Double?, warn: (MemoryWarning) -> Void, decode: (UnsafeRawBufferPointer) throws -> Void
    ) -> RawLookup {
        let now = wallClockSeconds()
        let needsStatus = maximumAge != nil || !accessRecords.isRecent(key, within: Self.accessTimeResolution, now: now)
        do {
            var found = RawLookup.miss
            _ = try readSmallFile(
                in: directory, path: relativePath, touchOlderThan: Self.accessTimeResolution, limit: defaultMaximumLoadSize.bytes,
                needsStatus: needsStatus
            ) { bytes, read in
                guard let read else {
                    // Read without status: the access time is recent (the record says so).
                    try decode(bytes)
                    found = .hit
                    return
                }
                if let maximumAge, now - read.status.modificationTime > maximumAge {
                    found = .expired
                    return
                }
                if let error = read.touchError {
                    warn(MemoryWarning(.accessTimeNotUpdated, "the entry's last access could not be recorded", path: entry().appending(Self.outputName).string, underlying: error))
                }
                try decode(bytes)
                found = .hit
                // Touched (now), or seen recent: a hit within the resolution may skip the status.
                // An access time that could not be set is not recorded: the next hit tries again.
                if read.touched {
                    accessRecords.record(key, accessedAfter: now - Self.fileClockLag)
                } else if read.touchError == nil {
                    accessRecords.record(key, accessedAfter: read.status.accessTime)
                }
            }
            return found
        } catch let error as PersistenceError {
            return .unreadable(error)
        } catch let error as SystemError {
            return .unreadable(error)
        } catch {
            return .unreadable(MemoryError(.corruptEntry, "\(error)", path: entry().appending(Self.outputName).string))
        }
    }

    // MARK: Writing

    /// Stores `value` as the entry `key` of `function`, atomically: the output and metadata are
    /// written into a private temporary directory that is then renamed to the entry's name.
    ///
    /// If another process published the same entry first, its entry is kept and ours dropped
    /// (both hold the same result). With `replace`, an existing entry (corrupt or expired) is
    /// moved aside and removed first. Returns the bytes stored, or 0 when another entry won.
    func write<Value: Encodable>(
        _ value: Value, function: String, key: String, metadata: EntryMetadata, replace: Bool
    ) throws -> Int {
        let directory = functionDirectory(function)
        try makeDirectories(directory)
        let temporary = directory.appending(".tmp-\(key)-\(currentProcessID)-\(UInt64.random(in: 0 ... .max))")
        try makeDirectories(temporary)
        var published = false
        defer { if !published { try? removeRecursively(temporary) } }
        let output = temporary.appending(Self.outputName)
        try dump(value, to: output, compression: compression, durable: false)
        try writeNewFile(temporary.appending(Self.metadataName), metadata.json)
        let size = try (fileStatus(output)?.size ?? 0) + (fileStatus(temporary.appending(Self.metadataName))?.size ?? 0)
        let entry = directory.appending(key)
        if try publishDirectory(temporary, as: entry) {
            published = true
            return size
        }
        // The entry someone else published is kept unless we are replacing it, or it lost its output.
        if !replace, try fileStatus(entry.appending(Self.outputName)) != nil { return 0 }
        try discard(entry)
        published = try publishDirectory(temporary, as: entry)
        return published ? size : 0
    }

    /// Removes an entry so that readers see it whole or not at all: it is renamed to a hidden
    /// name first (one atomic step), then deleted. A missing entry is not an error.
    func discard(_ entry: FilePath) throws {
        let parent = entry.removingLastComponent()
        let trash = parent.appending(".trash-\(entry.lastComponent?.string ?? "entry")-\(currentProcessID)-\(UInt64.random(in: 0 ... .max))")
        if try renameIfPresent(entry, to: trash) { try removeRecursively(trash) }
    }

    // MARK: Function identity

    /// Makes sure the function directory belongs to `version`; entries of another version are
    /// removed (they could never be hit, since the version is part of every key, but they use space).
    /// Returns true when `function.json` was not a regular file (a FIFO, say): it is replaced.
    @discardableResult
    func adoptVersion(function: String, version: Int) throws -> Bool {
        let directory = functionDirectory(function)
        let file = directory.appending(Self.functionFileName)
        let expected = "{\"name\": \(Self.jsonQuoted(function)), \"version\": \(version)}\n"
        let current: String?
        var unreadable = false
        switch Result(catching: { () throws(SystemError) in try readSmallFile(file, touchOlderThan: nil, limit: 1 << 16) }) {
        case .success(let contents):
            current = contents.map { String(decoding: $0.bytes, as: UTF8.self) }
        case .failure(let error):
            guard error.notRegularFile != nil || error.errno == .fileTooLarge else { throw error }
            current = nil
            unreadable = true
        }
        if current == expected { return false }
        if try fileStatus(directory) != nil {
            for entry in try directoryEntries(directory) where Self.isEntryName(entry) {
                try discard(directory.appending(entry))
            }
        } else {
            try makeDirectories(directory)
        }
        try writeFileAtomically(to: file, durable: false) { fd in
            _ = try expected.utf8CString.dropLast().withUnsafeBytes { try fd.writeAll($0) }
        }
        return unreadable
    }

    static func jsonQuoted(_ text: String) -> String {
        String(decoding: (try? JSONEncoder().encode(text)) ?? Data("\"\"".utf8), as: UTF8.self)
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
