import JoblibCoding
import JoblibPersistence
import JoblibSystem
import Synchronization
import SystemPackage

/// One call, ready to be looked up: its key and the arguments that went into it.
///
/// Only the digest is computed up front; the key's text and the entry's path are built when a
/// miss, a warning or a shelved reference needs them (a hit needs neither).
struct PreparedCall {
    var digest: HashDigest
    /// `<location>/joblib/<function>`.
    var directory: FilePath
    var arguments: [any Encodable]
    var ignoredPositions: Set<Int>

    var key: String { digest.hexString }
    var entry: FilePath { directory.appending(key) }
    var keptArguments: [(position: Int, value: any Encodable)] {
        arguments.enumerated().filter { !ignoredPositions.contains($0.offset) }.map { (position: $0.offset, value: $0.element) }
    }
}

/// `<key>/output.joblib` as a C string, relative to the function directory, for `body`.
func withRelativeOutputPath<R>(_ digest: HashDigest, _ body: (UnsafePointer<CChar>) throws -> R) rethrows -> R {
    let suffix: StaticString = "/output.joblib"
    return try withUnsafeTemporaryAllocation(of: CChar.self, capacity: 32 + suffix.utf8CodeUnitCount + 1) { buffer in
        let digits: StaticString = "0123456789abcdef"
        digits.withUTF8Buffer { hex in
            for index in 0..<16 {
                let shift = UInt64(60 - 4 * index)
                buffer[index] = CChar(bitPattern: hex[Int((digest.high >> shift) & 0xF)])
                buffer[16 + index] = CChar(bitPattern: hex[Int((digest.low >> shift) & 0xF)])
            }
        }
        suffix.withUTF8Buffer { tail in
            for index in 0..<tail.count { buffer[32 + index] = CChar(bitPattern: tail[index]) }
        }
        buffer[32 + suffix.utf8CodeUnitCount] = 0
        return try body(buffer.baseAddress!)
    }
}

/// The part of a cached function that does not depend on its types: key computation, lookup,
/// storing, warnings and tracing. `CachedFunction` and `AsyncCachedFunction` only add the call.
final class CachedFunctionCore: Sendable {
    let memory: Memory
    let name: String
    let version: Int
    let ignoredPositions: Set<Int>
    let ignoredFields: Set<String>
    let maximumAge: Double?
    /// `<location>/joblib/<function>`, built once (hits should not re-encode the name).
    private let directory: FilePath?
    /// The function directory, open, so that a hit opens `<key>/output.joblib` relative to it;
    /// reopened by path whenever a lookup in it misses (the directory may have been replaced).
    private let directoryHandle = Mutex<DirectoryHandle?>(nil)
    /// `memory.clearCount` when `directoryHandle` was opened: a clear in this process drops it.
    private let handleGeneration = Atomic<Int>(-1)
    private let log: VerboseLog
    /// Done once per process: the version check of the function directory, the ignore check.
    private let versionAdopted = Mutex(false)
    private let versionAdoptedFlag = Atomic<Bool>(false)
    private let ignoreChecked = Mutex(false)

    init(memory: Memory, name: String, version: Int, ignore: [IgnoredArgument], expiresAfter: Duration?) {
        self.memory = memory
        self.name = name
        self.version = version
        var positions = Set<Int>()
        var fields = Set<String>()
        for item in ignore {
            switch item.kind {
            case .position(let index): positions.insert(index)
            case .field(let field): fields.insert(field)
            }
        }
        ignoredPositions = positions
        ignoredFields = fields
        maximumAge = expiresAfter.map(seconds)
        log = VerboseLog(level: memory.verbose)
        directory = memory.store?.functionDirectory(name)
    }

    var store: CacheStore? { memory.store }

    /// Computes the key; nil when the memory has no location (the call goes straight through).
    func prepare(_ arguments: [any Encodable]) throws -> PreparedCall? {
        guard let store, let directory else { return nil }
        guard !name.isEmpty else { throw MemoryError(.invalidArgument, "a cached function needs a non-empty name") }
        let kept: [any Encodable]
        if ignoredPositions.isEmpty {
            kept = arguments
        } else {
            if let position = ignoredPositions.first(where: { $0 < 0 || $0 >= arguments.count }) {
                throw MemoryError(.invalidArgument, "ignore: argument \(position) does not exist; '\(name)' takes \(arguments.count) argument(s), numbered from 0")
            }
            kept = arguments.enumerated().filter { !ignoredPositions.contains($0.offset) }.map(\.element)
        }
        let recorder = ignoredFields.isEmpty ? nil : FieldRecorder()
        let digest = try callDigest(kept, recorder: recorder)
        if let recorder {
            try ignoreChecked.withLock { checked in
                guard !checked else { return }
                let missing = ignoredFields.subtracting(recorder.seen)
                if !missing.isEmpty {
                    throw MemoryError(.invalidArgument, "ignore: no argument of '\(name)' has the field(s) \(missing.sorted()); fields are the coding keys of struct arguments")
                }
                checked = true
            }
        }
        if !versionAdoptedFlag.load(ordering: .acquiring) { adoptVersionOnce(store) }
        return PreparedCall(digest: digest, directory: directory, arguments: arguments, ignoredPositions: ignoredPositions)
    }

    /// The key's digest: that of `CallKey`, written without an encoder when every argument is an
    /// `Int`, `Double`, `String` or `Bool` and no field is ignored (the same bytes, so the same key).
    private func callDigest(_ kept: [any Encodable], recorder: FieldRecorder?) throws -> HashDigest {
        if recorder == nil, let digest = hashDigestOfScalarList(name, version, kept) { return digest }
        do {
            return try hashDigest(CallKey(function: name, version: version, arguments: kept, ignoredFields: ignoredFields, seenFields: recorder))
        } catch {
            throw MemoryError(.argumentNotHashable, "the arguments of '\(name)' could not be hashed: \(error)", underlying: error)
        }
    }

    private func adoptVersionOnce(_ store: CacheStore) {
        versionAdopted.withLock { adopted in
            guard !adopted else { return }
            adopted = true
            do {
                if try store.adoptVersion(function: name, version: version) {
                    memory.onWarning(MemoryWarning(
                        .corruptEntry, "the function's identity file was not a regular file; it was replaced and the function's entries removed",
                        path: store.functionDirectory(name).appending(CacheStore.functionFileName).string))
                }
            } catch {
                memory.onWarning(MemoryWarning(.clearFailed, "could not record version \(version) of '\(name)' or remove its older entries", path: store.functionDirectory(name).string, underlying: error))
            }
        }
        versionAdoptedFlag.store(true, ordering: .releasing)
    }

    /// What a lookup decided.
    enum Decision {
        /// The value was found and moved into the caller's slot.
        case hit
        /// Compute, then store; `replace` when an unusable entry is in the way.
        case compute(replace: Bool)
    }

    /// Looks the call up, warning about (and scheduling the replacement of) unusable entries.
    /// On `.hit` the value has been moved into `slot` (uninitialized memory), which the caller
    /// then owns; otherwise `slot` is left uninitialized.
    ///
    /// A typed slot rather than a `Value?` or a generic result: `CachedFunction` is generic over a
    /// parameter pack, so its code is never specialized, and each generic type a hit builds costs
    /// a metadata lookup at run time. The unmapped hit path builds none.
    func lookup<Value: Decodable>(_ call: PreparedCall, into slot: UnsafeMutablePointer<Value>) -> Decision {
        guard let store else { return .compute(replace: false) }
        guard store.mapping == nil else { return lookupMapped(store, call, into: slot) }
        // Reading the clock costs more than the rest of a hit's bookkeeping: only when tracing loads.
        let start = log.level > 1 ? ContinuousClock.now : nil
        // `decode` returns normally exactly when the lookup is `.hit` (CacheStore.read), so the
        // slot is initialized exactly then.
        switch readRelative(store, call, decode: { slot.initialize(to: try load(Value.self, fromBorrowed: $0)) }) {
        case .hit:
            if let start { log.loaded(name, seconds: seconds(ContinuousClock.now - start), path: call.entry.string) }
            return .hit
        case .miss:
            return .compute(replace: false)
        case .expired:
            return .compute(replace: true)
        case .unreadable(let error):
            return unreadable(call, error)
        }
    }

    /// ``lookup(_:into:)`` of a mapped cache, on its own so that the unmapped hit does not
    /// instantiate `CacheStore.Lookup<Value>`.
    @inline(never)
    private func lookupMapped<Value: Decodable>(_ store: CacheStore, _ call: PreparedCall, into slot: UnsafeMutablePointer<Value>) -> Decision {
        let start = log.level > 1 ? ContinuousClock.now : nil
        switch store.read(Value.self, entry: call.entry, maximumAge: maximumAge, warn: memory.onWarning) {
        case .hit(let value):
            slot.initialize(to: value)
            if let start { log.loaded(name, seconds: seconds(ContinuousClock.now - start), path: call.entry.string) }
            return .hit
        case .miss:
            return .compute(replace: false)
        case .expired:
            return .compute(replace: true)
        case .unreadable(let error):
            return unreadable(call, error)
        }
    }

    /// ``lookup(_:into:)`` returning the value, for callers that cannot keep a slot (`async` ones).
    func lookup<Value: Decodable>(_ call: PreparedCall, as type: Value.Type, replace: inout Bool) -> Value? {
        withUnsafeTemporaryAllocation(of: Value.self, capacity: 1) { slot in
            switch lookup(call, into: slot.baseAddress!) {
            case .hit:
                return slot.baseAddress!.move()
            case .compute(let mustReplace):
                replace = mustReplace
                return nil
            }
        }
    }

    private func unreadable(_ call: PreparedCall, _ error: any Error & Sendable) -> Decision {
        memory.onWarning(MemoryWarning(.corruptEntry, "the cached result of '\(name)' could not be loaded; recomputing it", path: call.entry.string, underlying: error))
        return .compute(replace: true)
    }

    /// How long (nanoseconds) a hit may go through the open function directory without checking
    /// that its path still names it: one `stat` of the path per interval, ~1 µs every 0.1 s.
    static let directoryRecheckInterval: UInt64 = 100_000_000

    /// Reads the entry through the open function directory. A miss there is confirmed by
    /// reopening the directory by path (it may have been cleared and made again since), so the
    /// open descriptor never hides an entry that the path would find; a hit there is trusted for
    /// `directoryRecheckInterval` after the path was last seen to name that directory (a clear
    /// in this process reopens it at once), so a directory replaced at the path is left within
    /// that time, even when the one renamed away still holds the entry.
    ///
    /// Warnings go to the memory's handler unless `quiet` (the re-check after taking a key's
    /// lock, SingleFlight.swift).
    func readRelative(
        _ store: CacheStore, _ call: PreparedCall, quiet: Bool = false, decode: (UnsafeRawBufferPointer) throws -> Void
    ) -> CacheStore.RawLookup {
        // The closures below capture the digest and `self`, not `call`: capturing the call would
        // copy it (its path, arguments and ignored positions retained and released every hit).
        let digest = call.digest
        let generation = memory.clearCount
        var handle: DirectoryHandle?
        if handleGeneration.load(ordering: .acquiring) == generation { handle = directoryHandle.withLock { $0 } }
        // A directory renamed away (by hand, or a clear elsewhere whose removal stopped half-way)
        // would keep answering through the descriptor: the path is checked again now and then.
        if let current = handle, !current.isConfirmed(within: Self.directoryRecheckInterval), !current.leads(from: call.directory) {
            handle = nil
        }
        if let handle {
            let fd = handle.fd
            let found = withRelativeOutputPath(digest) { path in
                store.read(
                    key: digest, in: fd, relativePath: path, entry: { self.entryPath(digest) }, maximumAge: maximumAge,
                    warn: { if !quiet { self.memory.onWarning($0) } }, decode: decode)
            }
            withExtendedLifetime(handle) {}
            guard case .miss = found else { return found }
        }
        // First lookup, a miss, or a clear since: (re)open the directory by path and look again.
        let reopened: DirectoryHandle?
        do {
            reopened = try DirectoryHandle(call.directory)
        } catch {
            return .unreadable(error)
        }
        directoryHandle.withLock { $0 = reopened }
        handleGeneration.store(generation, ordering: .releasing)
        guard let reopened else { return .miss }
        let fd = reopened.fd
        let found = withRelativeOutputPath(digest) { path in
            store.read(
                key: digest, in: fd, relativePath: path, entry: { self.entryPath(digest) }, maximumAge: maximumAge,
                warn: { if !quiet { self.memory.onWarning($0) } }, decode: decode)
        }
        withExtendedLifetime(reopened) {}
        return found
    }

    /// `<location>/joblib/<function>/<key>` (for warnings: a hit builds no path).
    private func entryPath(_ digest: HashDigest) -> FilePath {
        (directory ?? FilePath()).appending(digest.hexString)
    }

    /// The arguments as metadata and traces show them: ignored positions and fields left out.
    private func describedArguments(_ call: PreparedCall) -> [(position: Int, value: any Encodable)] {
        guard !ignoredFields.isEmpty else { return call.keptArguments }
        return call.keptArguments.map { ($0.position, FieldFilter(value: $0.value, ignored: ignoredFields, seen: nil) as any Encodable) }
    }

    /// Traces the start of a computation.
    func willCompute(_ call: PreparedCall) {
        log.calling(name, arguments: describedArguments(call).map { ArgumentDescription.describe($0.value) }.joined(separator: ", "))
    }

    /// Stores a computed value and returns what the caller gets: the value, or with `mapping`
    /// the stored copy loaded mapped, so hits and misses return the same kind of array.
    ///
    /// - Throws: ``MemoryError`` `resultNotEncodable`. Failures to write are warnings.
    func store<Value: Codable>(_ value: Value, for call: PreparedCall, duration: Duration, replace: Bool) throws -> (value: Value, stored: Bool) {
        let elapsed = seconds(duration)
        log.computed(name, seconds: elapsed)
        guard let store else { return (value, false) }
        let metadata = EntryMetadata(
            function: name, version: version, duration: elapsed, time: wallClockSeconds(),
            inputArguments: ArgumentDescription.json(describedArguments(call)))
        memory.ensureGitignore()
        let writing = wallClockSeconds()
        do {
            let bytes = try store.write(value, function: name, key: call.key, metadata: metadata, replace: replace)
            memory.noteWrite(bytes: bytes)
            // Ours was published: its output was made (so accessed) after `writing`, and the
            // first hits need not ask for its status (AccessRecords).
            if bytes > 0 { store.accessRecords.record(call.digest, accessedAfter: writing - CacheStore.fileClockLag) }
        } catch let error as PersistenceError where error.code == .encodingFailed || error.code == .invalidArgument {
            throw MemoryError(.resultNotEncodable, "the result of '\(name)' cannot be stored: \(error.message)", underlying: error)
        } catch {
            memory.onWarning(MemoryWarning(.writeFailed, "the result of '\(name)' was computed but could not be stored", path: call.entry.string, underlying: error))
            return (value, false)
        }
        if memory.mapping != nil, case .hit(let mapped) = store.read(Value.self, entry: call.entry, maximumAge: nil, warn: memory.onWarning) {
            return (mapped, true)
        }
        return (value, true)
    }

    /// Whether a call with these arguments would be answered from the cache: its output is a
    /// regular file, not expired. One `stat`: the output is not read (its access time stays).
    ///
    /// - Throws: ``MemoryError`` `io` when the output cannot be examined (no permission to search
    ///   the entry's directory, a symbolic-link loop, an I/O error): whether it is cached is then
    ///   unknown, which is not the same as "not cached".
    func isCached(_ call: PreparedCall) throws(MemoryError) -> Bool {
        let status: FileStatus?
        do {
            status = try fileStatus(call.entry.appending(CacheStore.outputName))
        } catch {
            throw MemoryError(.io, "cannot tell whether '\(name)' has this call cached: \(error.reason)", path: error.path, underlying: error)
        }
        guard let status, status.isRegularFile else { return false }
        if let maximumAge, wallClockSeconds() - status.modificationTime > maximumAge { return false }
        return true
    }

    /// `isCached` for `callAndShelve`, which computes when the answer is not a clear yes: an
    /// output that cannot be examined is then met again by the lookup before computing, which
    /// reports it (`corruptEntry`) and replaces the entry, as a call would.
    func isKnownCached(_ call: PreparedCall) -> Bool {
        do { return try isCached(call) } catch { return false }
    }

    /// Removes this function's entries.
    func clear() throws {
        guard let store else { return }
        directoryHandle.withLock { $0 = nil }
        do {
            try store.discard(store.functionDirectory(name))
        } catch let error as SystemError {
            throw MemoryError.io(error)
        }
    }

    /// A reference to the stored entry of `call`.
    func shelved<Value>(_ call: PreparedCall, as: Value.Type) -> MemorizedResult<Value> {
        MemorizedResult(function: name, argumentHash: call.key, entryPath: call.entry.string, mapping: memory.mapping)
    }
}
