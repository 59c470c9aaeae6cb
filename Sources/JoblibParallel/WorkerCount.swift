import JoblibSystem

/// How many workers a ``Parallel`` call uses, with joblib's arithmetic.
///
/// An integer literal works wherever a `WorkerCount` is expected:
///
/// | value | workers |
/// |---|---|
/// | `n > 0` | `n` (more than the CPUs is allowed: oversubscription) |
/// | `-1` | ``cpuCount()``, all the CPUs this process may use |
/// | `-2` | all but one |
/// | `-k` | `cpuCount() + 1 - k`, at least 1 |
/// | `0` | meaningless: the call throws ``ParallelError/Code/invalidWorkerCount`` |
public struct WorkerCount: ExpressibleByIntegerLiteral, Hashable, Sendable, CustomStringConvertible {
    /// The number as given, before it is resolved against the CPU count.
    public var rawValue: Int

    /// A worker count as joblib's `n_jobs` reads it.
    public init(_ rawValue: Int) { self.rawValue = rawValue }

    /// A worker count from an integer literal, as joblib's `n_jobs` reads it.
    public init(integerLiteral value: Int) { self.rawValue = value }

    /// All the CPUs this process may use (`-1`).
    public static let allCPUs: WorkerCount = -1

    /// The number of workers this count means with `cpus` usable CPUs (default ``cpuCount()``).
    ///
    /// - Throws: ``ParallelError`` with code ``ParallelError/Code/invalidWorkerCount`` for `0`.
    public func resolved(cpus: Int? = nil) throws(ParallelError) -> Int {
        if rawValue > 0 { return rawValue }
        if rawValue == 0 {
            throw ParallelError(
                .invalidWorkerCount,
                "jobs: 0 has no meaning; use a positive count, or -1 for all CPUs (-2 for all but one)")
        }
        // -1 is all CPUs, -2 all but one...; guard the subtraction against Int.min.
        // Only negative counts need the CPU count, which reads cgroup files: keep it off the fast path.
        let cpus = max(cpus ?? cpuCount(), 1)
        if rawValue <= -cpus { return 1 }
        return max(cpus + 1 + rawValue, 1)
    }

    /// The number as given, like joblib prints `n_jobs` in its progress lines.
    public var description: String { String(rawValue) }
}
