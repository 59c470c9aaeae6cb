/// How many tasks a worker takes at a time.
public enum BatchSize: Hashable, Sendable {
    /// Sized from measured durations as joblib does: batches grow (at most ×2 per step) until one
    /// takes 0.2–2 s, shrink when one takes longer, and get finer at the tail so that workers
    /// finish together.
    case auto
    /// Exactly `n` tasks per batch (the last one may be smaller). `n` must be at least 1.
    case fixed(Int)
}

/// joblib's `AutoBatchingMixin`, for workers that pull batches.
///
/// The constants are joblib's, tuned with its `benchmarks/bench_auto_batching.py`; the duration of
/// a batch runs from the moment it is handed out to its completion, as in joblib.
struct AutoBatchSizer: Sendable {
    static let minimumIdealDuration = 0.2
    static let maximumIdealDuration = 2.0

    let fixed: Int?
    /// The size handed out while no tail or change applies (joblib's `_effective_batch_size`).
    private(set) var effectiveSize = 1
    /// Smoothed duration of batches of `effectiveSize`; 0 until one has been measured.
    private(set) var smoothedDuration = 0.0
    private var tailSize: Int?

    init(_ batchSize: BatchSize) {
        if case .fixed(let n) = batchSize { fixed = n; effectiveSize = n } else { fixed = nil }
    }

    /// The size of the next batch, when `remaining` tasks are left for `workers` workers.
    /// `onChange` receives joblib's verbose message when the size changes.
    mutating func nextSize(remaining: Int, workers: Int, onChange: (String) -> Void = { _ in }) -> Int {
        if let fixed { return min(fixed, remaining) }
        let old = effectiveSize
        let duration = smoothedDuration
        if duration > 0 && duration < Self.minimumIdealDuration {
            // Too fast: aim for the minimum ideal duration, at most doubling per step.
            let ideal = Int(Double(old) * Self.minimumIdealDuration / duration) * 2
            effectiveSize = max(1, min(2 * old, ideal))
            if effectiveSize != old {
                onChange("Batch computation too fast (\(Self.seconds(duration))s.) Setting batch_size=\(effectiveSize).")
            }
        } else if duration > Self.maximumIdealDuration && old >= 2 {
            effectiveSize = max(2 * Int(Double(old) * Self.minimumIdealDuration / duration), 1)
            if effectiveSize != old {
                onChange("Batch computation too slow (\(Self.seconds(duration))s.) Setting batch_size=\(effectiveSize).")
            }
        }
        if effectiveSize != old { smoothedDuration = 0 }
        // The tail: fewer tasks left than one round of batches. Split what is left finely (joblib:
        // len // (10 * n_jobs)) so that the workers finish together.
        if remaining < effectiveSize * workers {
            if tailSize == nil { tailSize = max(1, remaining / (10 * workers)) }
            return min(tailSize!, remaining)
        }
        return min(effectiveSize, remaining)
    }

    /// Records that a batch of `size` tasks took `duration` seconds from hand-out to completion.
    mutating func record(size: Int, duration: Double) {
        guard fixed == nil, size == effectiveSize else { return }
        // A clock too coarse to see the batch still means "fast".
        let duration = max(duration, 1e-9)
        smoothedDuration = smoothedDuration == 0 ? duration : 0.8 * smoothedDuration + 0.2 * duration
    }

    private static func seconds(_ value: Double) -> String {
        let scaled = (value * 10_000).rounded() / 10_000
        return String(scaled)
    }
}
