import Synchronization

/// Hashing states kept between runs: a small hash (a cache key, on every call of a cached
/// function) then allocates no state, stage, buffer or encoders, only what its value needs.
///
/// A state is used by one thread at a time: `take` hands it over whole and `give` takes it back.
/// One state sits in a lock-free slot (one atomic exchange each way: a thread that hashes alone,
/// the usual case, never takes the lock nor touches the array); the others wait under the lock.
final class HashingStatePool: @unchecked Sendable {
    static let shared = HashingStatePool()
    /// As many as threads that usually hash at once; more are made and dropped as needed.
    private static let capacity = 8
    /// A state whose buffer grew past this (a large value without bulk arrays) is not kept.
    private static let largestKeptBuffer = 1 << 20
    /// A retained `EncodingState` (`Unmanaged`), or nil when empty.
    private let slot = Atomic<UnsafeMutableRawPointer?>(nil)
    /// Guards `spare` (its states are not `Sendable`, so they cannot live inside the `Mutex`).
    private let lock = Mutex(())
    private var spare: [EncodingState] = []

    deinit {
        if let kept = slot.exchange(nil, ordering: .acquiring) { Unmanaged<EncodingState>.fromOpaque(kept).release() }
    }

    func take() -> EncodingState {
        if let kept = slot.exchange(nil, ordering: .acquiring) {
            return Unmanaged<EncodingState>.fromOpaque(kept).takeRetainedValue()
        }
        var taken: EncodingState?
        lock.withLock { _ in taken = spare.popLast() }
        if let taken { return taken }
        return EncodingState(canonical: true, hashing: true, sections: nil)
    }

    /// Takes `state` back after a run; one that threw (it may be mid-value) is dropped.
    func give(_ state: EncodingState, reusable: Bool) {
        guard reusable, state.bufferCapacity <= Self.largestKeptBuffer else {
            state.finish()
            return
        }
        state.resetForReuse()
        let retained = Unmanaged.passRetained(state).toOpaque()
        if slot.compareExchange(expected: nil, desired: retained, ordering: .releasing).exchanged { return }
        Unmanaged<EncodingState>.fromOpaque(retained).release()
        var kept = false
        lock.withLock { _ in
            guard spare.count < Self.capacity else { return }
            spare.append(state)
            kept = true
        }
        if !kept { state.finish() }
    }
}
