import JoblibSystem

/// Defaults for the ``Parallel`` calls made inside a scope, like joblib's `parallel_config`.
///
/// Set with ``withParallelConfiguration(backend:jobs:verbose:innerMaxThreads:batchSize:timeout:_:)``;
/// read with ``current``. Arguments given to ``Parallel`` itself always win. The scope is a task
/// local: it covers the body, the tasks it creates and the synchronous code it calls, and ends
/// with the body.
///
/// Inside a running task (a nested call) the backend and worker count are reset: a nested
/// `Parallel` runs sequentially unless it passes `jobs:` or configures a scope of its own.
public struct ParallelConfiguration: Sendable {
    /// The backend for calls that do not name one; `.threads` when nil.
    public var backend: Backend?
    /// The worker count for calls that do not give one; all CPUs when nil (1 in a nested call).
    public var jobs: WorkerCount?
    /// The verbosity for calls that do not give one; 0 (silent) when nil.
    public var verbose: Int?
    /// Threads each worker process allows its native libraries (OpenMP, BLAS); default
    /// `cpuCount() / jobs`. Read by process backends.
    public var innerMaxThreads: Int?
    /// The batch size for calls that do not give one; `.auto` when nil.
    public var batchSize: BatchSize?
    /// The per-task timeout for calls that do not give one; none when nil.
    public var timeout: Duration?
    /// How many ``Parallel`` tasks enclose this code: 0 at top level.
    public internal(set) var nestingLevel: Int = 0
    /// Every call runs sequentially, whatever it asks for: set by the environment variable
    /// `JOBLIB_FORCE_SEQUENTIAL=1` (for test suites and debugging).
    public internal(set) var forcesSequential: Bool = false
    /// `JOBLIB_MULTIPROCESSING=0`: backends that would start processes run threads instead.
    public internal(set) var processesRunThreads: Bool = false

    /// The configuration in force here.
    public static var current: ParallelConfiguration { storage }

    @TaskLocal static var storage = ParallelConfiguration.fromEnvironment(environmentValue)

    /// The top-level configuration an environment describes (`JOBLIB_FORCE_SEQUENTIAL`,
    /// `JOBLIB_MULTIPROCESSING`).
    package static func fromEnvironment(_ lookup: (String) -> String?) -> ParallelConfiguration {
        var configuration = ParallelConfiguration()
        configuration.forcesSequential = isTrue(lookup("JOBLIB_FORCE_SEQUENTIAL"))
        if let value = lookup("JOBLIB_MULTIPROCESSING")?.trimmingSpaces {
            configuration.processesRunThreads = value == "0" || value.lowercased() == "false"
        }
        return configuration
    }

    private static func isTrue(_ value: String?) -> Bool {
        guard let value = value?.trimmingSpaces.lowercased() else { return false }
        return ["1", "true", "yes", "on"].contains(value)
    }

    /// Runs `body` as the inside of a task: nested calls run sequentially unless configured.
    /// (Worker processes run every task this way.)
    package static func withinTask<R>(_ body: () throws -> R) rethrows -> R {
        try $storage.withValue(current.nested, operation: body)
    }

    /// What code running inside a task of a call made under this configuration sees.
    var nested: ParallelConfiguration {
        var inner = self
        inner.nestingLevel += 1
        inner.backend = nil
        inner.jobs = nil
        return inner
    }

    func overriding(
        backend: Backend?, jobs: WorkerCount?, verbose: Int?, innerMaxThreads: Int?, batchSize: BatchSize?,
        timeout: Duration?
    ) -> ParallelConfiguration {
        var result = self
        if let backend { result.backend = backend }
        if let jobs { result.jobs = jobs }
        if let verbose { result.verbose = verbose }
        if let innerMaxThreads { result.innerMaxThreads = innerMaxThreads }
        if let batchSize { result.batchSize = batchSize }
        if let timeout { result.timeout = timeout }
        return result
    }
}

/// Runs `body` with defaults for the ``Parallel`` calls inside it; nil arguments keep the
/// enclosing values. Like joblib's `parallel_config`.
public func withParallelConfiguration<Result>(
    backend: Backend? = nil, jobs: WorkerCount? = nil, verbose: Int? = nil, innerMaxThreads: Int? = nil,
    batchSize: BatchSize? = nil, timeout: Duration? = nil, _ body: () throws -> Result
) rethrows -> Result {
    let configuration = ParallelConfiguration.current.overriding(
        backend: backend, jobs: jobs, verbose: verbose, innerMaxThreads: innerMaxThreads, batchSize: batchSize,
        timeout: timeout)
    return try ParallelConfiguration.$storage.withValue(configuration, operation: body)
}

/// Runs the asynchronous `body` with defaults for the ``Parallel`` calls inside it (and in the
/// child tasks it creates); nil arguments keep the enclosing values.
public func withParallelConfiguration<Result>(
    backend: Backend? = nil, jobs: WorkerCount? = nil, verbose: Int? = nil, innerMaxThreads: Int? = nil,
    batchSize: BatchSize? = nil, timeout: Duration? = nil, isolation: isolated (any Actor)? = #isolation,
    _ body: () async throws -> Result
) async rethrows -> Result {
    let configuration = ParallelConfiguration.current.overriding(
        backend: backend, jobs: jobs, verbose: verbose, innerMaxThreads: innerMaxThreads, batchSize: batchSize,
        timeout: timeout)
    return try await ParallelConfiguration.$storage.withValue(configuration, operation: body)
}

extension String {
    fileprivate var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
