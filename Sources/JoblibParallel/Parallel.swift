import JoblibSystem

/// Runs many independent tasks on several workers, like joblib's `Parallel`.
///
/// ```swift
/// let squares = try Parallel(jobs: -1).map(0..<1_000) { i in i * i }       // input order
/// let outcomes = Parallel(jobs: 2).mapResults(paths) { try load($0) }       // one failure, one entry
/// ```
///
/// Results come back in input order. The first task error fails the call and is rethrown as it
/// was thrown; tasks not started by then never run. Cancelling the calling task stops the call
/// between tasks and throws `CancellationError`. Arguments left nil take their value from
/// ``ParallelConfiguration/current``, then from the defaults named below.
public struct Parallel: Sendable {
    /// Workers to use (joblib's `n_jobs`); default: all CPUs at top level, 1 inside a task.
    public var jobs: WorkerCount?
    /// Where tasks run; default ``Backend/threads`` (``Backend/sequential`` when one worker).
    public var backend: Backend?
    /// Tasks per batch handed to a worker; default ``BatchSize/auto``.
    public var batchSize: BatchSize?
    /// Progress on standard error (standard output from 50): 0 silent, above 10 every batch;
    /// an interactive terminal gets a progress bar instead of lines.
    public var verbose: Int?
    /// The longest one task may run; the call then fails with ``ParallelError/Code/timeout``.
    public var timeout: Duration?
    /// Called after every batch with (tasks completed, tasks in the call, time elapsed), one call
    /// at a time, from the worker that completed the batch.
    public var progress: ParallelProgressHandler?
    /// How many times a task whose worker process died is run again on a new worker before the
    /// task fails with ``ParallelError/Code/workerDied`` (backends with processes only); default 0.
    public var retries: Int?
    /// Where progress text goes (tests record it); nil: standard error.
    package var progressOutput: ProgressOutput?

    /// A parallel runner. Nothing starts until a call (`map`, `run`, `results`, `stream`).
    public init(
        jobs: WorkerCount? = nil, backend: Backend? = nil, batchSize: BatchSize? = nil, verbose: Int? = nil,
        timeout: Duration? = nil, progress: ParallelProgressHandler? = nil, retries: Int? = nil
    ) {
        self.retries = retries
        self.jobs = jobs
        self.backend = backend
        self.batchSize = batchSize
        self.verbose = verbose
        self.timeout = timeout
        self.progress = progress
    }

    // MARK: Blocking calls

    /// `body` applied to every input, on the workers; results in input order.
    ///
    /// - Throws: the first error a task threw; `CancellationError`; ``ParallelError`` with code
    ///   ``ParallelError/Code/timeout``, ``ParallelError/Code/invalidWorkerCount``,
    ///   ``ParallelError/Code/invalidBatchSize``, ``ParallelError/Code/invalidTimeout`` or
    ///   ``ParallelError/Code/workerUnavailable``.
    @inlinable
    public func map<Input: Sendable, Output: Sendable>(
        _ inputs: some Sequence<Input>, _ body: @escaping @Sendable (Input) throws -> Output
    ) throws -> [Output] {
        let inputs = Array(inputs)
        let slots = ResultSlots<Output>(count: inputs.count)
        try execute(taskCount: inputs.count, batches: { batch in
            batch.forEachTask { index in slots[index] = try body(inputs[index]) }
        })
        return slots.values()
    }

    /// Runs every task on the workers; outputs in input order.
    ///
    /// - Throws: as ``map(_:_:)-57qad``.
    public func run<Task: ParallelTask>(_ tasks: some Sequence<Task>) throws -> [Task.Output] {
        let tasks = Array(tasks)
        let slots = ResultSlots<Task.Output>(count: tasks.count)
        try execute(tasks: tasks) { index, outcome in slots[index] = try outcome.get() }
        return slots.values()
    }

    /// `body` applied to every input; each entry is that input's output or error, in input order.
    /// A failure costs one entry: the others still run. A failure of the whole call (invalid
    /// arguments, cancellation, a timeout) fills the entries of tasks that did not complete.
    @inlinable
    public func mapResults<Input: Sendable, Output: Sendable>(
        _ inputs: some Sequence<Input>, _ body: @escaping @Sendable (Input) throws -> Output
    ) -> [Result<Output, any Error>] {
        let inputs = Array(inputs)
        let slots = ResultSlots<Result<Output, any Error>>(count: inputs.count)
        do {
            try execute(taskCount: inputs.count, batches: { batch in
                batch.forEachTask { index in slots[index] = Result { try body(inputs[index]) } }
            })
            return slots.values()
        } catch {
            return slots.values { _ in .failure(error) }
        }
    }

    /// Runs every task; each entry is that task's output or error, in input order.
    public func results<Task: ParallelTask>(_ tasks: some Sequence<Task>) -> [Result<Task.Output, any Error>] {
        let tasks = Array(tasks)
        let slots = ResultSlots<Result<Task.Output, any Error>>(count: tasks.count)
        do {
            try execute(tasks: tasks) { index, outcome in slots[index] = outcome }
            return slots.values()
        } catch {
            return slots.values { _ in .failure(error) }
        }
    }

    // MARK: The engine shared by every call

    /// A call's settings after configuration and defaults.
    struct Plan {
        var backend: any ParallelBackend
        var backendName: String
        var workers: Int
        var jobsLabel: String
        var batchSize: BatchSize
        var timeout: Duration?
        var verbose: Int
        var nested: ParallelConfiguration
        var runsInCaller: Bool
        var retries: Int

        func reporter(total: Int, parallel: Parallel) -> ProgressReporter {
            ProgressReporter(
                verbose: verbose, jobsLabel: jobsLabel, total: total, handler: parallel.progress,
                output: parallel.progressOutput)
        }
    }

    func plan() throws -> Plan {
        let configuration = ParallelConfiguration.current
        let jobs = self.jobs ?? configuration.jobs ?? (configuration.nestingLevel > 0 ? 1 : .allCPUs)
        var workers = try jobs.resolved()
        let batchSize = self.batchSize ?? configuration.batchSize ?? .auto
        if case .fixed(let size) = batchSize, size < 1 {
            throw ParallelError(.invalidBatchSize, "batchSize: .fixed(\(size)) must be at least 1 task")
        }
        let timeout = self.timeout ?? configuration.timeout
        if let timeout, timeout <= .zero {
            throw ParallelError(.invalidTimeout, "timeout: \(timeout) must be positive")
        }
        let retries = self.retries ?? 0
        if retries < 0 {
            throw ParallelError(.invalidRetries, "retries: \(retries) must be 0 or more")
        }
        var chosen = self.backend ?? configuration.backend ?? .threads
        // One thread is the caller's own thread; one worker process still isolates crashes and
        // can be killed on timeout, so other backends keep their single worker.
        if configuration.forcesSequential || (workers == 1 && chosen.kind == .threads) { chosen = .sequential }
        if chosen.kind == .sequential { workers = 1 }
        return Plan(
            backend: try chosen.makeBackend(), backendName: chosen.name, workers: workers, jobsLabel: jobs.description,
            batchSize: batchSize, timeout: timeout, verbose: self.verbose ?? configuration.verbose ?? 0,
            nested: configuration.nested, runsInCaller: chosen.kind == .sequential, retries: retries)
    }

    func makeJob(_ plan: Plan, taskCount: Int, remote: RemoteTasks? = nil, batches: @escaping BatchRunner) -> ParallelJob {
        ParallelJob(
            taskCount: taskCount, workers: plan.workers, batchSize: plan.batchSize, timeout: plan.timeout,
            nestedConfiguration: plan.nested, reporter: plan.reporter(total: taskCount, parallel: self),
            pollsTaskCancellation: plan.runsInCaller, retries: plan.retries, remote: remote, runBatch: batches)
    }

    /// Runs `batches` for batches covering `0..<taskCount` and blocks until the call is over.
    @usableFromInline
    func execute(taskCount: Int, batches: @escaping BatchRunner) throws {
        try execute(taskCount: taskCount, remote: nil, batches: batches)
    }

    /// Runs `batches` without blocking a thread of the cooperative pool.
    @usableFromInline
    func executeAsync(taskCount: Int, batches: @escaping BatchRunner) async throws {
        try await executeAsync(taskCount: taskCount, remote: nil, batches: batches)
    }

    /// ``execute(taskCount:batches:)``; `remote`, when given, lets a backend run the tasks elsewhere.
    func execute(taskCount: Int, remote: RemoteTasks?, batches: @escaping BatchRunner) throws {
        let plan = try plan()
        let job = makeJob(plan, taskCount: taskCount, remote: remote, batches: batches)
        job.start(on: plan.backend, named: plan.backendName)
        // A blocking call made from a task still stops when that task is cancelled.
        job.completion.waitBlocking { if Task.isCancelled { job.cancel() } }
        if let error = job.error { throw error }
    }

    /// ``executeAsync(taskCount:batches:)``; `remote` as in ``execute(taskCount:remote:batches:)``.
    func executeAsync(taskCount: Int, remote: RemoteTasks?, batches: @escaping BatchRunner) async throws {
        let plan = try plan()
        let job = makeJob(plan, taskCount: taskCount, remote: remote, batches: batches)
        await withTaskCancellationHandler {
            job.start(on: plan.backend, named: plan.backendName)
            await job.completion.wait()
        } onCancel: {
            job.cancel()
        }
        if let error = job.error { throw error }
    }

    /// Runs `runItem` for every index in `0..<taskCount` and blocks until the call is over (one
    /// closure call per task: for entry points whose tasks cost more than that call).
    func execute(
        taskCount: Int, remote: RemoteTasks? = nil, _ runItem: @escaping @Sendable (Int) throws -> Void
    ) throws {
        try execute(taskCount: taskCount, remote: remote, batches: { $0.forEachTask(runItem) })
    }

    /// ``execute(taskCount:remote:_:)`` without blocking a thread of the cooperative pool.
    func executeAsync(
        taskCount: Int, remote: RemoteTasks? = nil, _ runItem: @escaping @Sendable (Int) throws -> Void
    ) async throws {
        try await executeAsync(taskCount: taskCount, remote: remote, batches: { $0.forEachTask(runItem) })
    }
}
