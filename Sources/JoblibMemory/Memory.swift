import JoblibPersistence
import JoblibSystem
import JoblibTypes
import Synchronization
import SystemPackage

/// A disk cache for expensive function calls, as Python's `joblib.Memory`.
///
/// ```swift
/// let memory = Memory(location: "./cache")
/// let features = memory.cache(name: "features", version: 1) { (path: String) throws -> [Double] in ... }
/// let v = try features(path)          // computes and stores once, then loads from disk
/// try features.clear()                // this function's entries
/// try memory.reduceSize(bytesLimit: .gigabytes(10))
/// ```
///
/// Results are stored under `<location>/joblib/<function>/<argument hash>/` (see CacheLayout.md
/// next to the source) with ``/JoblibPersistence/dump(_:to:compression:durable:)-(_,FilePath,_,_)``, so a cache
/// can be shared by several processes: entries appear atomically, a corrupt entry is recomputed
/// with a warning, and a cache that cannot be written (read-only, full) still returns computed
/// values and reports the failure through `onWarning`.
///
/// `Memory(location: nil)` caches nothing: cached functions call straight through.
public final class Memory: Sendable {
    /// The cache directory given at creation, or nil when caching is off.
    public let location: FilePath?
    /// How results are compressed on disk.
    public let compression: Compression
    /// How cached ``/JoblibPersistence/NDArray`` results are memory-mapped when loaded, or nil to read them.
    public let mapping: MappingMode?
    /// The size the cache is kept under after each write, or nil for no automatic limit.
    public let bytesLimit: ByteCount?
    /// 0 is silent, 1 (joblib's default) traces each computation, 2 and up also each load.
    public let verbose: Int
    /// How long a call that misses waits for another process (or thread) that is already
    /// computing the same call, before computing it too; `.zero` never waits.
    public let computationWait: Duration

    let store: CacheStore?
    let onWarning: @Sendable (MemoryWarning) -> Void
    /// This process's estimate of the cache's size, refreshed by every scan (nil: not scanned yet).
    private let estimatedBytes = Mutex<Int?>(nil)
    /// How many times ``clear()`` ran: cached functions reopen their directory after a clear.
    private let clears = Atomic<Int>(0)
    /// Warnings given once per `Memory` (a file system without locks).
    private let warnedOnce = Mutex<Set<MemoryWarning.Code>>([])
    /// Whether `<location>/.gitignore` was checked for by this `Memory`.
    private let gitignoreChecked = Atomic<Bool>(false)
    var clearCount: Int { clears.load(ordering: .acquiring) }

    /// Creates a cache in `location` (created on first write), or a pass-through one for nil.
    ///
    /// - Parameters:
    ///   - location: The cache directory; entries go to `<location>/joblib/`. nil turns caching off.
    ///   - compression: How results are compressed (``/JoblibPersistence/Compression/none`` by default; compressed
    ///     results cannot be memory-mapped).
    ///   - mapping: Load cached ``/JoblibPersistence/NDArray`` results memory-mapped (also right after computing
    ///     them, so a call returns the same kind of array whether it hit or missed).
    ///     ``/JoblibPersistence/MappingMode/readOnly`` or ``/JoblibPersistence/MappingMode/copyOnWrite`` are the safe choices;
    ///     ``/JoblibPersistence/MappingMode/readWrite`` would let callers change the cached result.
    ///   - bytesLimit: After each write, least recently used entries are evicted once this
    ///     process estimates the cache is over the limit, down to 90 % of it.
    ///   - verbose: joblib's trace levels (see ``verbose``).
    ///   - computationWait: When several processes (or threads) miss the same call at once, the
    ///     first computes it and the others wait for its result, this long at most (then they
    ///     compute it too, with a `waitTimedOut` warning). The wait ends early, and correctly, if
    ///     the computing process dies: one waiter then computes. `.zero` turns this off (every
    ///     caller computes, as joblib does). Hits never wait. On file systems without file
    ///     locks, callers compute independently after a `lockUnavailable` warning.
    ///   - onWarning: Receives failures that do not fail the call; by default one line on
    ///     standard error each.
    public init(
        location: FilePath?, compression: Compression = .none, mapping: MappingMode? = nil,
        bytesLimit: ByteCount? = nil, verbose: Int = 1, computationWait: Duration = .seconds(600),
        onWarning: @escaping @Sendable (MemoryWarning) -> Void = MemoryWarning.standardError
    ) {
        self.location = location
        self.compression = compression
        self.mapping = mapping
        self.bytesLimit = bytesLimit
        self.verbose = verbose
        self.computationWait = computationWait
        self.onWarning = onWarning
        store = location.map { CacheStore(location: $0, compression: compression, mapping: mapping) }
        if mapping != nil && compression != .none {
            onWarning(MemoryWarning(.notMapped, "compressed results cannot be memory-mapped; they will be loaded into memory"))
        }
    }

    /// Creates a cache in the directory `location`; see ``init(location:compression:mapping:bytesLimit:verbose:computationWait:onWarning:)-(FilePath?,_,_,_,_,_,_)``.
    public convenience init(
        location: String, compression: Compression = .none, mapping: MappingMode? = nil,
        bytesLimit: ByteCount? = nil, verbose: Int = 1, computationWait: Duration = .seconds(600),
        onWarning: @escaping @Sendable (MemoryWarning) -> Void = MemoryWarning.standardError
    ) {
        self.init(location: FilePath(location), compression: compression, mapping: mapping,
                  bytesLimit: bytesLimit, verbose: verbose, computationWait: computationWait, onWarning: onWarning)
    }

    /// Wraps a function so that its results are cached; call the returned value as the function.
    ///
    /// - Parameters:
    ///   - name: The function's identity in the cache (its directory name). Two functions given
    ///     the same name share entries, so give each its own.
    ///   - version: Bump it when the function's code changes: the function's old entries are
    ///     never returned again and are removed on first use; other functions keep theirs.
    ///   - ignore: Arguments, or fields of a struct argument, left out of the key (see
    ///     ``IgnoredArgument``).
    ///   - expiresAfter: Entries older than this are recomputed.
    ///   - function: The function; its arguments must be `Encodable` (they are hashed) and its
    ///     result `Codable` (it is stored).
    public func cache<each Argument: Encodable, Result: Codable & Sendable>(
        name: String, version: Int = 0, ignore: [IgnoredArgument] = [], expiresAfter: Duration? = nil,
        _ function: @escaping @Sendable (repeat each Argument) throws -> Result
    ) -> CachedFunction<repeat each Argument, Result> {
        CachedFunction(core: CachedFunctionCore(memory: self, name: name, version: version, ignore: ignore, expiresAfter: expiresAfter), function: function)
    }

    /// Wraps an `async` function so that its results are cached; see
    /// ``cache(name:version:ignore:expiresAfter:_:)-1r0ky``.
    public func cache<each Argument: Encodable, Result: Codable & Sendable>(
        name: String, version: Int = 0, ignore: [IgnoredArgument] = [], expiresAfter: Duration? = nil,
        _ function: @escaping @Sendable (repeat each Argument) async throws -> Result
    ) -> AsyncCachedFunction<repeat each Argument, Result> {
        AsyncCachedFunction(core: CachedFunctionCore(memory: self, name: name, version: version, ignore: ignore, expiresAfter: expiresAfter), function: function)
    }

    /// Removes every entry of every function in this location.
    ///
    /// - Throws: ``MemoryError`` with code `io`.
    public func clear() throws {
        guard let store else { return }
        defer { clears.add(1, ordering: .releasing) }
        do {
            let trash = store.root.removingLastComponent().appending(".joblib-trash-\(currentProcessID)-\(UInt64.random(in: 0 ... .max))")
            if try renameIfPresent(store.root, to: trash) { try removeRecursively(trash) }
        } catch {
            throw MemoryError.io(error)  // typed: the calls above throw SystemError only
        }
        estimatedBytes.withLock { $0 = 0 }
    }

    /// Evicts least recently used entries (by last access) until every given limit holds.
    ///
    /// Entries are removed oldest access first until the cache holds at most `bytesLimit`
    /// bytes, at most `itemsLimit` entries, and no entry last used longer than `ageLimit` ago.
    /// A hit records its use only when the recorded one is more than 10 s old (recording costs
    /// a write), so last use is known to within 10 s.
    ///
    /// - Throws: ``MemoryError`` with code `invalidArgument` (a negative limit) or `io`.
    public func reduceSize(bytesLimit: ByteCount? = nil, itemsLimit: Int? = nil, ageLimit: Duration? = nil) throws {
        if let itemsLimit, itemsLimit < 0 {
            throw MemoryError(.invalidArgument, "itemsLimit cannot be negative (got \(itemsLimit))")
        }
        if let ageLimit, ageLimit < .zero {
            throw MemoryError(.invalidArgument, "ageLimit cannot be negative (got \(ageLimit))")
        }
        guard let store else { return }
        do {
            let result = try store.reduceSize(bytesLimit: bytesLimit?.bytes, itemsLimit: itemsLimit, ageLimit: ageLimit.map(seconds))
            estimatedBytes.withLock { $0 = result.bytesBefore - result.removedBytes }
            warnIfIndexNotSaved(result)
        } catch let error as SystemError {
            throw MemoryError.io(error)
        }
    }

    /// Called after each stored entry: keeps the cache under ``bytesLimit``.
    ///
    /// Scanning thousands of entries after every write would cost more than the writes, so the
    /// process keeps an estimate (last scan + its own writes) and scans only when it passes the
    /// limit; it then evicts down to 90 % of the limit so that the next writes do not scan again.
    /// Other processes' writes are seen at the next scan.
    func noteWrite(bytes: Int) {
        guard let bytesLimit, let store, bytes > 0 else { return }
        let overLimit = estimatedBytes.withLock { estimate -> Bool in
            guard let known = estimate else { return true }
            estimate = known + bytes
            return known + bytes > bytesLimit.bytes
        }
        guard overLimit else { return }
        do {
            let scan = try store.reduceSize(
                bytesLimit: bytesLimit.bytes / 10 * 9, itemsLimit: nil, ageLimit: nil, onlyIfOver: bytesLimit.bytes)
            estimatedBytes.withLock { $0 = scan.bytesBefore - scan.removedBytes }
            warnIfIndexNotSaved(scan)
        } catch {
            onWarning(MemoryWarning(.evictionFailed, "the cache could not be kept under \(bytesLimit)", path: store.root.string, underlying: error))
        }
    }
}

extension Memory {
    func warnIfIndexNotSaved(_ result: EvictionResult) {
        guard let error = result.indexError, let store else { return }
        onWarning(MemoryWarning(
            .sizeIndexNotSaved, "the index of entry sizes could not be saved; the next process's first reduceSize will read every entry's metadata",
            path: store.root.string, underlying: error))
    }

    /// Reports `warning` unless a warning with `code` was reported by this `Memory` already.
    func warnOnce(_ code: MemoryWarning.Code, _ warning: MemoryWarning) {
        let first = warnedOnce.withLock { $0.insert(code).inserted }
        if first { onWarning(warning) }
    }

    /// The content joblib 1.6 writes to `<location>/.gitignore`: the whole cache is ignored.
    static let gitignoreContent = "# Created by joblib automatically.\n*\n"

    /// Writes `<location>/.gitignore` once, as joblib does, so that a cache inside a repository is
    /// never committed; an existing file (the user's, or joblib's) is left alone. Best effort: a
    /// location that cannot be written is reported by the entry's own write, once.
    func ensureGitignore() {
        guard let location, !gitignoreChecked.load(ordering: .relaxed) else { return }
        gitignoreChecked.store(true, ordering: .relaxed)
        let file = location.appending(".gitignore")
        do throws(SystemError) {
            try makeDirectories(location)
            if try fileStatus(file) == nil { try writeNewFile(file, Self.gitignoreContent) }
        } catch {
            // EEXIST: another process wrote it first; anything else: the entry's write says so.
        }
    }
}

/// `duration` in seconds.
func seconds(_ duration: Duration) -> Double {
    let parts = duration.components
    return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
}
