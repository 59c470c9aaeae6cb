#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import JoblibSystem
import SystemPackage

// What `joblib cache info|list|prune|clear` sees of a cache location: the same files the cache
// itself uses (CacheLayout.md), read without loading any result.

/// The functions and entries of one cache location, as ``scanCache(location:)`` found them.
package struct CacheReport: Sendable, Encodable {
    /// The directory given (the one holding `joblib/`).
    package var location: String
    package var functions: [CachedFunctionReport]
    package var entryCount: Int { functions.reduce(0) { $0 + $1.entries.count } }
    package var totalBytes: Int { functions.reduce(0) { $0 + $1.totalBytes } }

    private enum CodingKeys: String, CodingKey { case location, functions, entryCount, totalBytes }
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(location, forKey: .location)
        try container.encode(functions, forKey: .functions)
        try container.encode(entryCount, forKey: .entryCount)
        try container.encode(totalBytes, forKey: .totalBytes)
    }
}

/// One cached function's directory.
package struct CachedFunctionReport: Sendable, Encodable {
    /// The name given to `memory.cache(name:)` (from `function.json`; the directory name if absent).
    package var name: String
    /// The directory under `joblib/`.
    package var directory: String
    /// The version from `function.json`, nil when the file is missing or unreadable.
    package var version: Int?
    package var entries: [CacheEntryReport]
    package var totalBytes: Int { entries.reduce(0) { $0 + $1.bytes } }
    /// The most recent access to any entry, in seconds since 1970.
    package var lastAccess: Double? { entries.map(\.lastAccess).max() }

    private enum CodingKeys: String, CodingKey { case name, directory, version, entries, totalBytes, lastAccess }
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(directory, forKey: .directory)
        try container.encode(version, forKey: .version)
        try container.encode(entries, forKey: .entries)
        try container.encode(totalBytes, forKey: .totalBytes)
        try container.encode(lastAccess, forKey: .lastAccess)
    }
}

/// One entry: a call's stored result.
package struct CacheEntryReport: Sendable, Encodable {
    /// The argument hash (the entry's directory name).
    package var key: String
    /// Output plus metadata, in bytes.
    package var bytes: Int
    /// The last hit (the output's access time), in seconds since 1970.
    package var lastAccess: Double
    /// When the result was stored (the output's modification time), in seconds since 1970.
    package var stored: Double
    /// Seconds the call took, from `metadata.json` (nil when that file is missing or unreadable).
    package var duration: Double?
    /// The arguments as `metadata.json` records them (JSON text), if readable.
    package var arguments: String?
    /// Whether the entry has its output file (an entry without one is recomputed).
    package var complete: Bool
}

/// The fields of `function.json` the scan reads.
private struct FunctionFile: Decodable {
    var name: String?
    var version: Int?
}

/// The fields of `metadata.json` the scan reads.
private struct MetadataFile: Decodable {
    var duration: Double?
    var input_args: JSONValue?
}

/// Any JSON value, to carry `input_args` through unchanged.
private enum JSONValue: Codable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value):
            // Integers print without a fraction, as they were written.
            if value == value.rounded(), abs(value) < 1e15 { try container.encode(Int(value)) } else { try container.encode(value) }
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

/// What a prune or clear removed.
package struct CacheRemoval: Sendable, Encodable {
    package var entriesBefore: Int
    package var bytesBefore: Int
    package var removedEntries: Int
    package var removedBytes: Int
}

/// `location/joblib` when it is a cache location; throws a clear error otherwise.
private func cacheRoot(_ location: FilePath) throws -> FilePath {
    do {
        return try checkedCacheRoot(location)
    } catch let error as SystemError {
        throw MemoryError.io(error)
    }
}

private func checkedCacheRoot(_ location: FilePath) throws -> FilePath {
    guard let status = try fileStatus(location) else {
        throw MemoryError(.invalidArgument, "there is no directory \(location)", path: location.string)
    }
    guard status.isDirectory else {
        throw MemoryError(.invalidArgument, "\(location) is a file, not a cache directory", path: location.string)
    }
    let root = location.appending("joblib")
    guard try fileStatus(root)?.isDirectory == true else {
        throw MemoryError(
            .invalidArgument, "\(location) is not a joblib cache: it has no joblib/ folder (give the directory passed to Memory(location:))",
            path: location.string)
    }
    return root
}

/// Lists every function and entry of the cache in `location`, reading each entry's metadata.
///
/// - Throws: ``MemoryError`` with code `invalidArgument` (not a cache directory) or `io`.
package func scanCache(location: FilePath) throws -> CacheReport {
    let root = try cacheRoot(location)
    do {
        return CacheReport(location: location.string, functions: try scanFunctions(root))
    } catch {
        throw MemoryError.io(error)
    }
}

/// Every function directory under `root` with its entries, alphabetically.
private func scanFunctions(_ root: FilePath) throws(SystemError) -> [CachedFunctionReport] {
    var functions: [CachedFunctionReport] = []
    for function in try scanSubdirectories(root, files: [], filter: { !$0.hasPrefix(".") }) {
        let directory = root.appending(function.name)
        var report = CachedFunctionReport(name: function.name, directory: function.name, version: nil, entries: [])
        // Unreadable (missing, a FIFO, a device): the directory name stands in, without a version.
        if let contents = try? readSmallFile(directory.appending(CacheStore.functionFileName), touchOlderThan: nil, limit: 1 << 16),
           let identity = try? JSONDecoder().decode(FunctionFile.self, from: Data(contents.bytes))
        {
            report.name = identity.name ?? report.name
            report.version = identity.version
        }
        let found = try scanSubdirectories(
            directory, files: [CacheStore.outputName, CacheStore.metadataName], filter: CacheStore.isEntryName)
        for entry in found {
            let output = entry.files[0]
            var item = CacheEntryReport(
                key: entry.name, bytes: (output?.size ?? 0) + (entry.files[1]?.size ?? 0),
                lastAccess: output?.accessTime ?? 0, stored: output?.modificationTime ?? 0, duration: nil,
                arguments: nil, complete: output != nil)
            if entry.files[1] != nil,
               let contents = try? readSmallFile(directory.appending(entry.name).appending(CacheStore.metadataName), touchOlderThan: nil, limit: 1 << 24),
               let metadata = try? JSONDecoder().decode(MetadataFile.self, from: Data(contents.bytes))
            {
                item.duration = metadata.duration
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                if let arguments = metadata.input_args, let text = try? encoder.encode(arguments) {
                    item.arguments = String(decoding: text, as: UTF8.self)
                }
            }
            report.entries.append(item)
        }
        report.entries.sort { $0.lastAccess > $1.lastAccess }
        functions.append(report)
    }
    functions.sort { $0.name < $1.name }
    return functions
}

/// Evicts least recently used entries of the cache in `location` until every limit holds (as
/// ``Memory/reduceSize(bytesLimit:itemsLimit:ageLimit:)``), and says what went.
///
/// - Throws: ``MemoryError`` with code `invalidArgument` or `io`.
package func pruneCache(location: FilePath, bytesLimit: Int?, itemsLimit: Int?, ageLimit: Double?) throws -> CacheRemoval {
    let root = try cacheRoot(location)
    let store = CacheStore(location: root.removingLastComponent(), compression: .none, mapping: nil)
    do {
        let result = try store.reduceSize(bytesLimit: bytesLimit, itemsLimit: itemsLimit, ageLimit: ageLimit)
        if let error = result.indexError {
            // A command-line run has no warning handler: one line on standard error, as Memory's default.
            MemoryWarning.standardError(MemoryWarning(
                .sizeIndexNotSaved, "the index of entry sizes could not be saved; the next scan will read every entry's metadata",
                path: root.string, underlying: error))
        }
        return CacheRemoval(
            entriesBefore: result.entriesBefore, bytesBefore: result.bytesBefore,
            removedEntries: result.removedEntries, removedBytes: result.removedBytes)
    } catch let error as SystemError {
        throw MemoryError.io(error)
    }
}

/// Removes every entry of the cache in `location`, or those of the function named `function`.
///
/// - Throws: ``MemoryError`` with code `invalidArgument` (not a cache, or no such function) or `io`.
package func clearCache(location: FilePath, function: String? = nil) throws -> CacheRemoval {
    let report = try scanCache(location: location)
    let chosen = function.map { name in report.functions.filter { $0.name == name || $0.directory == name } } ?? report.functions
    if let function, chosen.isEmpty {
        let known = report.functions.map(\.name).joined(separator: ", ")
        throw MemoryError(.invalidArgument, "the cache has no function named '\(function)' (it has: \(known.isEmpty ? "none" : known))", path: location.string)
    }
    let store = CacheStore(location: location, compression: .none, mapping: nil)
    var removal = CacheRemoval(entriesBefore: report.entryCount, bytesBefore: report.totalBytes, removedEntries: 0, removedBytes: 0)
    do {
        for item in chosen {
            // The whole function directory goes, as `CachedFunction.clear()` does, atomically.
            try store.discard(store.root.appending(item.directory))
            removal.removedEntries += item.entries.count
            removal.removedBytes += item.totalBytes
        }
    } catch let error as SystemError {
        throw MemoryError.io(error)
    }
    return removal
}
