import JoblibPersistence
import JoblibSystem
import SystemPackage

// Computing a key once across processes (CacheLayout.md, "Computing a key once"). After a miss,
// a call takes the key's lock: an open-file-description lock on one byte of `<function>/.locks`
// (the byte is given by the key), which the kernel releases when its holder closes it or dies.
// The holder looks once more (someone may have published the entry meanwhile), computes,
// publishes and closes. Other callers wait for that close without polling (FileLock), then find
// the entry. If the holder dies, one waiter gets the lock, finds no entry and computes; the
// others wait for it. Hits never come here: they take no lock.

/// The lock file of a function directory.
let lockFileName = ".locks"

/// The lock of a key this call computes; ``release()`` ends it.
final class ComputationLock: @unchecked Sendable {
    // @unchecked: owned by the one call that computes the key, then released once.
    private let lock: FileLock

    init(_ lock: FileLock) { self.lock = lock }

    /// Ends the computation (published or not: whoever takes the lock next looks again first).
    func release() {
        lock.unlock()
    }
}

/// What a call that missed does next.
enum Flight<Value: Sendable>: Sendable {
    /// Another caller computed it while this one waited.
    case found(Value)
    /// Compute it; holding the key's lock when there is one. `replace`: an unusable entry is in the way.
    case compute(ComputationLock?, replace: Bool)
}

extension CachedFunctionCore {
    /// After a miss: takes the key's lock, or waits for the caller that holds it and returns what
    /// it stored. Waits at most `memory.computationWait`; `wake` (or the task's cancellation,
    /// checked every second) ends a wait with `CancellationError`.
    func beginComputation<Value: Decodable & Sendable>(
        _ call: PreparedCall, as type: Value.Type, replace: Bool, wake: WakeSignal? = nil
    ) throws -> Flight<Value> {
        guard memory.computationWait > .zero, store != nil else { return .compute(nil, replace: replace) }
        let lock: FileLock
        do {
            // Bytes up to 2^62: far more than keys, and within what any file system's locks take.
            lock = try FileLock(call.directory.appending(lockFileName), offset: Int64(call.digest.high >> 2))
        } catch {
            // No function directory yet (cleared meanwhile), or a cache we cannot write: the
            // store reports that; the call just computes.
            return .compute(nil, replace: replace)
        }
        var found: Value?
        var cancelled = false
        var first = true
        let outcome: FileLock.WaitOutcome
        do {
            outcome = try lock.wait(deadline: monotonicNanoseconds() + nanoseconds(memory.computationWait), wake: wake) {
                if first {  // the caller just missed: try the lock before looking again
                    first = false
                    return false
                }
                // Only a wait is cancelled: an uncontended miss computes, as it always did.
                if Task.isCancelled {
                    cancelled = true
                    return true
                }
                if case .hit(let value) = quietLookup(call, as: type) {
                    found = value
                    return true
                }
                return false
            }
        } catch {
            memory.warnOnce(.lockUnavailable, MemoryWarning(
                .lockUnavailable,
                "the cache's file system does not support file locks, so processes that miss the same key at once may each compute it",
                path: call.directory.string, underlying: error))
            return .compute(nil, replace: replace)
        }
        switch outcome {
        case .done:
            if cancelled { throw CancellationError() }
            return .found(found!)
        case .woken:
            throw CancellationError()
        case .timedOut:
            memory.onWarning(MemoryWarning(
                .waitTimedOut,
                "another caller has been computing '\(name)' for these arguments longer than computationWait (\(memory.computationWait)); computing it here too",
                path: call.entry.string))
            return .compute(nil, replace: replace)
        case .locked:
            return afterLocking(lock, call, as: type, replace: replace)
        }
    }

    /// With the key's lock held: the entry may have been published between the miss and the lock.
    private func afterLocking<Value: Decodable & Sendable>(
        _ lock: FileLock, _ call: PreparedCall, as type: Value.Type, replace: Bool
    ) -> Flight<Value> {
        switch quietLookup(call, as: type) {
        case .hit(let value):
            lock.unlock()
            return .found(value)
        case .miss:
            return .compute(ComputationLock(lock), replace: replace)
        case .expired, .unreadable:
            return .compute(ComputationLock(lock), replace: true)
        }
    }

    /// ``beginComputation(_:as:replace:wake:)`` for `async` functions: a wait runs on a thread of
    /// its own (a waiting caller must not hold one of the few threads async code runs on, which
    /// the computing caller may need) and ends at once when the task is cancelled.
    func beginComputation<Value: Decodable & Sendable>(
        _ call: PreparedCall, as type: Value.Type, replace: Bool
    ) async throws -> Flight<Value> {
        guard memory.computationWait > .zero, store != nil else { return .compute(nil, replace: replace) }
        // Uncontended (the usual case): the lock is taken here, without a thread.
        if let lock = try? FileLock(call.directory.appending(lockFileName), offset: Int64(call.digest.high >> 2)),
           (try? lock.tryLock()) == true
        {
            return afterLocking(lock, call, as: type, replace: replace)
        }
        let wake = try WakeSignal()
        nonisolated(unsafe) let key = PreparedCall(digest: call.digest, directory: call.directory, arguments: [], ignoredPositions: [])
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Flight<Value>, any Error>) in
                do {
                    try startDetachedThread(name: "joblib-cache-wait") {
                        continuation.resume(with: Result { try self.beginComputation(key, as: type, replace: replace, wake: wake) })
                    }
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        } onCancel: {
            wake.signal()
        }
    }

    /// A lookup that reports nothing (the caller already warned about this entry, or will).
    private func quietLookup<Value: Decodable>(_ call: PreparedCall, as type: Value.Type) -> CacheStore.Lookup<Value> {
        guard let store else { return .miss }
        if store.mapping == nil {
            // Through the hit path's open function directory, with its checks: re-validated
            // against the path after `directoryRecheckInterval`, a miss confirmed by reopening.
            var value: Value?
            switch readRelative(store, call, quiet: true, decode: { value = try load(type, fromBorrowed: $0) }) {
            case .hit: return value.map { .hit($0) } ?? .miss
            case .miss: return .miss
            case .expired: return .expired
            case .unreadable(let error): return .unreadable(error)
            }
        }
        return store.read(type, entry: call.entry, maximumAge: maximumAge, warn: { _ in })
    }
}

/// `duration` in nanoseconds (saturating).
func nanoseconds(_ duration: Duration) -> UInt64 {
    let parts = duration.components
    guard parts.seconds >= 0 else { return 0 }
    let (whole, overflow) = UInt64(parts.seconds).multipliedReportingOverflow(by: 1_000_000_000)
    return overflow ? .max / 2 : whole + UInt64(parts.attoseconds / 1_000_000_000)
}
