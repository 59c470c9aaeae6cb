/// A function whose results are cached on disk; call it as the function it wraps.
///
/// Made by ``Memory/cache(name:version:ignore:expiresAfter:_:)-1r0ky``.
/// A call hashes the arguments (minus ignored ones) with the function's name and version; when
/// an entry with that key exists (and has not expired) its result is loaded, otherwise the
/// function runs and its result is stored. Errors the function throws reach the caller unchanged
/// and nothing is stored.
public struct CachedFunction<each Argument: Encodable, Result: Codable & Sendable>: Sendable {
    let core: CachedFunctionCore
    let function: @Sendable (repeat each Argument) throws -> Result

    /// The name the function is cached under.
    public var name: String { core.name }

    /// Returns the cached result for these arguments, computing and storing it if needed.
    ///
    /// - Throws: whatever the function throws; ``MemoryError`` with code `argumentNotHashable`,
    ///   `resultNotEncodable` or `invalidArgument`. Failing to store is a warning, not an error.
    public func callAsFunction(_ argument: repeat each Argument) throws -> Result {
        guard let call = try core.prepare(argumentList(repeat each argument)) else { return try function(repeat each argument) }
        var stored = false
        return try compute(call, stored: &stored, repeat each argument)
    }

    /// Whether a call with these arguments would be answered from the cache, without calling.
    ///
    /// - Throws: ``MemoryError`` with code `argumentNotHashable` or `invalidArgument`; `io` when
    ///   the entry cannot be examined (no permission, a symbolic-link loop, an I/O error).
    public func checkCallInCache(_ argument: repeat each Argument) throws -> Bool {
        guard let call = try core.prepare(argumentList(repeat each argument)) else { return false }
        return try core.isCached(call)
    }

    /// Computes (or finds) the result and returns a small reference to the stored entry, to be
    /// loaded later with ``MemorizedResult/get(onWarning:)``, also in another process.
    ///
    /// When the entry exists the result is not read (its last access does not move): only
    /// ``MemorizedResult/get(onWarning:)`` loads it. Without a location, or when the result could not be
    /// stored, the reference holds the value.
    /// - Throws: as ``callAsFunction(_:)``.
    public func callAndShelve(_ argument: repeat each Argument) throws -> MemorizedResult<Result> {
        guard let call = try core.prepare(argumentList(repeat each argument)) else {
            return MemorizedResult(value: try function(repeat each argument), function: core.name)
        }
        if core.isKnownCached(call) { return core.shelved(call, as: Result.self) }
        var stored = false
        let value = try compute(call, stored: &stored, repeat each argument)
        return stored ? core.shelved(call, as: Result.self) : MemorizedResult(value: value, function: core.name)
    }

    /// Removes this function's entries (other functions keep theirs).
    ///
    /// - Throws: ``MemoryError`` with code `io`.
    public func clear() throws { try core.clear() }

    /// The result of `call`: found, or computed and stored (`stored` says whether it was).
    ///
    /// The hit returns from inside the temporary allocation that `lookup` fills: no `Result?`
    /// nor tuple is built (their metadata would be looked up at run time on every hit). The miss
    /// is a function of its own, so that the generic types only it uses (`Flight<Result>`, the
    /// stored value and flag) are not instantiated on the hit's way.
    private func compute(_ call: PreparedCall, stored: inout Bool, _ argument: repeat each Argument) throws -> Result {
        try withUnsafeTemporaryAllocation(of: Result.self, capacity: 1) { slot in
            switch core.lookup(call, into: slot.baseAddress!) {
            case .hit:
                stored = true
                return slot.baseAddress!.move()
            case .compute(let replace):
                return try computeMissed(call, replace: replace, stored: &stored, repeat each argument)
            }
        }
    }

    /// After a miss: computes once across processes (SingleFlight.swift), stores, returns.
    @inline(never)
    private func computeMissed(_ call: PreparedCall, replace: Bool, stored: inout Bool, _ argument: repeat each Argument) throws -> Result {
        var replace = replace
        let lock: ComputationLock?
        switch try core.beginComputation(call, as: Result.self, replace: replace) {
        case .found(let value):
            stored = true
            return value
        case .compute(let held, let mustReplace): (lock, replace) = (held, mustReplace)
        }
        defer { lock?.release() }
        core.willCompute(call)
        let start = ContinuousClock.now
        let value = try function(repeat each argument)
        let result = try core.store(value, for: call, duration: ContinuousClock.now - start, replace: replace)
        stored = result.stored
        return result.value
    }
}

/// An `async` function whose results are cached on disk; see ``CachedFunction``.
public struct AsyncCachedFunction<each Argument: Encodable, Result: Codable & Sendable>: Sendable {
    let core: CachedFunctionCore
    let function: @Sendable (repeat each Argument) async throws -> Result

    /// The name the function is cached under.
    public var name: String { core.name }

    /// Returns the cached result for these arguments, computing and storing it if needed.
    ///
    /// - Throws: as ``CachedFunction/callAsFunction(_:)``.
    public func callAsFunction(_ argument: repeat each Argument) async throws -> Result {
        guard let call = try core.prepare(argumentList(repeat each argument)) else { return try await function(repeat each argument) }
        return try await compute(call, repeat each argument).value
    }

    /// Whether a call with these arguments would be answered from the cache, without calling.
    ///
    /// - Throws: as ``CachedFunction/checkCallInCache(_:)``.
    public func checkCallInCache(_ argument: repeat each Argument) throws -> Bool {
        guard let call = try core.prepare(argumentList(repeat each argument)) else { return false }
        return try core.isCached(call)
    }

    /// Computes (or finds) the result and returns a reference to it; see
    /// ``CachedFunction/callAndShelve(_:)``.
    public func callAndShelve(_ argument: repeat each Argument) async throws -> MemorizedResult<Result> {
        guard let call = try core.prepare(argumentList(repeat each argument)) else {
            return MemorizedResult(value: try await function(repeat each argument), function: core.name)
        }
        if core.isKnownCached(call) { return core.shelved(call, as: Result.self) }
        let (value, stored) = try await compute(call, repeat each argument)
        return stored ? core.shelved(call, as: Result.self) : MemorizedResult(value: value, function: core.name)
    }

    /// Removes this function's entries.
    ///
    /// - Throws: ``MemoryError`` with code `io`.
    public func clear() throws { try core.clear() }

    private func compute(_ call: PreparedCall, _ argument: repeat each Argument) async throws -> (value: Result, stored: Bool) {
        var replace = false
        if let value = core.lookup(call, as: Result.self, replace: &replace) { return (value, true) }
        let lock: ComputationLock?
        switch try await core.beginComputation(call, as: Result.self, replace: replace) {
        case .found(let value): return (value, true)
        case .compute(let held, let mustReplace): (lock, replace) = (held, mustReplace)
        }
        defer { lock?.release() }
        core.willCompute(call)
        let start = ContinuousClock.now
        let value = try await function(repeat each argument)
        return try core.store(value, for: call, duration: ContinuousClock.now - start, replace: replace)
    }
}

/// The arguments of a call as a list, in order.
func argumentList<each Argument: Encodable>(_ argument: repeat each Argument) -> [any Encodable] {
    var list: [any Encodable] = []
    for value in repeat each argument { list.append(value) }
    return list
}
