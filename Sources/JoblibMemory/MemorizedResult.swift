import JoblibPersistence
import JoblibSystem
import SystemPackage

/// A reference to a cached result, returned by `callAndShelve`: small, `Codable`, and loadable
/// later with ``get(onWarning:)``, in this process or another one that can read the cache directory.
///
/// When caching is off (or the result could not be stored) the reference holds the value itself.
public struct MemorizedResult<Value: Codable & Sendable>: Codable, Sendable, CustomStringConvertible {
    /// The cached function's name.
    public let function: String
    /// The entry's key (the argument hash), or nil when the value is held in the reference.
    public let argumentHash: String?
    /// The entry directory.
    let entryPath: String?
    /// `MappingMode` by name, since it is not `Codable`.
    let mappingName: String?
    let value: Value?

    init(function: String, argumentHash: String, entryPath: String, mapping: MappingMode?) {
        self.function = function
        self.argumentHash = argumentHash
        self.entryPath = entryPath
        mappingName = mapping.map { "\($0)" }
        value = nil
    }

    init(value: Value, function: String) {
        self.function = function
        argumentHash = nil
        entryPath = nil
        mappingName = nil
        self.value = value
    }

    private var mapping: MappingMode? {
        switch mappingName {
        case "readOnly": .readOnly
        case "copyOnWrite": .copyOnWrite
        case "readWrite": .readWrite
        default: nil
        }
    }

    /// Loads the result (memory-mapped if the `Memory` maps results) and records the access
    /// (the entry's last use, for `reduceSize`).
    ///
    /// - Parameter onWarning: receives an `accessTimeNotUpdated` warning when the access could
    ///   not be recorded (a read-only cache, say); the result is returned all the same. By
    ///   default, one line on standard error.
    /// - Throws: ``MemoryError`` with code `notInCache` (the entry was cleared or evicted) or
    ///   `corruptEntry` (unreadable, truncated, or holding another type).
    public func get(onWarning: (MemoryWarning) -> Void = MemoryWarning.standardError) throws -> Value {
        if let value { return value }
        guard let entryPath else { throw MemoryError(.notInCache, "the reference holds neither a value nor an entry") }
        let output = FilePath(entryPath).appending(CacheStore.outputName)
        do {
            guard try fileStatus(output) != nil else {
                throw MemoryError(.notInCache, "the result of '\(function)' is no longer in the cache (cleared or evicted)", path: entryPath)
            }
            let loaded = try load(Value.self, from: output, mapping: mapping) { _ in }
            recordAccess(output, warn: onWarning)
            return loaded
        } catch let error as MemoryError {
            throw error
        } catch let error as PersistenceError {
            if case let system as SystemError = error.underlying, system.errno == .noSuchFileOrDirectory {
                throw MemoryError(.notInCache, "the result of '\(function)' is no longer in the cache (cleared or evicted)", path: entryPath)
            }
            throw MemoryError(.corruptEntry, "the cached result of '\(function)' cannot be loaded: \(error.message)", path: entryPath, underlying: error)
        } catch {
            throw MemoryError(.corruptEntry, "the cached result of '\(function)' cannot be loaded: \(error)", path: entryPath, underlying: error)
        }
    }

    /// Sets the output's access time; a failure is a warning (the value was loaded), except
    /// when the entry vanished since (evicted by another process: nothing left to record).
    func recordAccess(
        _ output: FilePath, warn: (MemoryWarning) -> Void,
        touch: (FilePath) throws(SystemError) -> Void = touchAccessTime
    ) {
        do {
            try touch(output)
        } catch where error.errno == .noSuchFileOrDirectory || error.errno == .notDirectory {
            return
        } catch {
            warn(MemoryWarning(.accessTimeNotUpdated, "the last access of '\(function)' could not be recorded", path: output.string, underlying: error))
        }
    }

    /// Removes the entry from the cache (nothing to do for a reference that holds its value).
    ///
    /// - Throws: ``MemoryError`` with code `io`.
    public func clear() throws {
        guard let entryPath else { return }
        let entry = FilePath(entryPath)
        let store = CacheStore(location: entry, compression: .none, mapping: nil)
        do { try store.discard(entry) } catch let error as SystemError { throw MemoryError.io(error) }
    }

    /// `MemorizedResult(function: "f", entry: "/cache/joblib/f/7b87…")`.
    public var description: String {
        if let entryPath { return "MemorizedResult(function: \"\(function)\", entry: \"\(entryPath)\")" }
        return "MemorizedResult(function: \"\(function)\", value held in memory)"
    }
}
