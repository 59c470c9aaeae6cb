import JoblibSystem

/// Runs many independent tasks on several workers, like joblib's `Parallel`.
///
/// ```swift
/// let squares = try Parallel(jobs: -1).map(0..<1_000) { i in i * i }       // input order
/// let outcomes = Parallel(jobs: 2).mapResults(paths) { try load($0) }       // one failure, one entry
/// ```
///
/// Results come back in input order. Inputs are read lazily, a batch at a time, as workers ask
/// for work: the first task starts before the input sequence is exhausted, and an endless
/// sequence is fine for a call that stops early (an error, or a `stream` left early). The first
/// task error fails the call and is rethrown as it was thrown; tasks not started by then never run. Cancelling the calling task stops the call
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
    /// Called once per call, after it ends (also when it failed), with what each worker did:
    /// see ``ParallelReport``. From `verbose: 11` the report is also printed.
    public var report: ParallelReportHandler?
    /// Where progress text goes (tests record it); nil: standard error.
    package var progressOutput: ProgressOutput?

    /// A parallel runner. Nothing starts until a call (`map`, `run`, `results`, `stream`).
    public init(
        jobs: WorkerCount? = nil, backend: Backend? = nil, batchSize: BatchSize? = nil, verbose: Int? = nil,
        timeout: Duration? = nil, progress: ParallelProgressHandler? = nil, retries: Int? = nil,
        report: ParallelReportHandler? = nil
    ) {
        self.report = report
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
    ///   ``ParallelError/Code/invalidBatchSize``, ``ParallelError/Code/invalidTimeout``,
    ///   ``ParallelError/Code/workerUnavailable`` or ``ParallelError/Code/unsupportedTask`` (a
    ///   backend that cannot run closures, such as worker processes).
    @inlinable
    public func map<Input: Sendable, Output: Sendable>(
        _ inputs: some Sequence<Input>, _ body: @escaping @Sendable (Input) throws -> Output
    ) throws -> [Output] {
        let source = InputSource.reading(inputs)
        let store = ResultStore<Output>(count: source.count)
        let (count, error) = execute(source, batches: { batch in
            let chunk = batch.inputs(of: Input.self)
            return store.run(batch) { index in try body(chunk[index]) }
        })
        if let error { throw error }
        return store.values(count: count)
    }

    /// Runs every task on the workers; outputs in input order.
    ///
    /// - Throws: as ``map(_:_:)-57qad``.
    public func run<Task: ParallelTask>(_ tasks: some Sequence<Task>) throws -> [Task.Output] {
        let source = InputSource.reading(tasks)
        let store = ResultStore<Task.Output>(count: source.count)
        let (count, error) = execute(source, of: Task.self, store: store, outputIsEntry: true) { try $0.get() }
        if let error { throw error }
        return store.values(count: count)
    }

    /// `body` applied to every input; each entry is that input's output or error, in input order.
    /// A failure costs one entry: the others still run. A failure of the whole call (invalid
    /// arguments, cancellation, a timeout) fills the entries of tasks that did not complete (of
    /// the inputs read so far, for a lazy sequence).
    @inlinable
    public func mapResults<Input: Sendable, Output: Sendable>(
        _ inputs: some Sequence<Input>, _ body: @escaping @Sendable (Input) throws -> Output
    ) -> [Result<Output, any Error>] {
        let source = InputSource.reading(inputs)
        let store = ResultStore<Result<Output, any Error>>(count: source.count)
        let (count, error) = execute(source, batches: { batch in
            let chunk = batch.inputs(of: Input.self)
            return store.run(batch) { index in Result { try body(chunk[index]) } }
        })
        return store.values(count: count) { _ in .failure(error ?? CancellationError()) }
    }

    /// Runs every task; each entry is that task's output or error, in input order.
    public func results<Task: ParallelTask>(_ tasks: some Sequence<Task>) -> [Result<Task.Output, any Error>] {
        let source = InputSource.reading(tasks)
        let store = ResultStore<Result<Task.Output, any Error>>(count: source.count)
        let (count, error) = execute(source, of: Task.self, store: store) { $0 }
        return store.values(count: count) { _ in .failure(error ?? CancellationError()) }
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

    /// The job of one call: `batches` runs a batch of blocking bodies, `asyncBatches` one of
    /// `async` bodies (one of the two is given); `remote`, when given, lets a backend run the
    /// tasks elsewhere.
    func makeJob(
        _ plan: Plan, source: InputSource, remote: RemoteTasks?, batches: BatchRunner?, asyncBatches: AsyncBatchRunner?
    ) -> ParallelJob {
        let reporter = ProgressReporter(
            verbose: plan.verbose, jobsLabel: plan.jobsLabel, total: source.count, handler: progress, output: progressOutput)
        return ParallelJob(
            source: source, workers: plan.workers, batchSize: plan.batchSize, timeout: plan.timeout,
            nestedConfiguration: plan.nested, reporter: reporter,
            pollsTaskCancellation: plan.runsInCaller && asyncBatches == nil, retries: plan.retries, remote: remote,
            recorder: ReportRecorder(handler: report, verbose: plan.verbose), runBatch: batches, runBatchAsync: asyncBatches)
    }

    /// Starts `job` for a caller that must not block a thread of the cooperative pool: a backend
    /// that runs the work in the calling thread (sequential) gets a thread of the shared pool.
    func startOffTheCooperativePool(_ job: ParallelJob, _ plan: Plan) {
        let backend = plan.backend
        let name = plan.backendName
        guard plan.runsInCaller else { return job.start(on: backend, named: name) }
        do {
            try ThreadPool.shared.submit(count: 1) { job.start(on: backend, named: name) }
        } catch {
            job.start(on: backend, named: name)
        }
    }

    /// The report of a call that never started (its arguments were invalid).
    func reportRejectedCall() {
        report?(ParallelReport(backend: "", wall: .zero, tasks: 0, failed: true, workers: [], batchSizes: [:]))
    }

    /// Runs `batches` for every batch of the call and blocks until it is over; returns the number
    /// of tasks and the call's error (for the inlinable entry points, whose loops it specialises).
    @usableFromInline
    func execute(_ source: InputSource, batches: @escaping BatchRunner) -> (count: Int, error: (any Error)?) {
        executeCall(source, batches: batches)
    }

    /// ``execute(_:batches:)`` without blocking a thread of the cooperative pool.
    @usableFromInline
    func executeAsync(_ source: InputSource, batches: @escaping BatchRunner) async -> (count: Int, error: (any Error)?) {
        await executeCallAsync(source, batches: batches)
    }

    /// Runs the call's batches and blocks until it is over; returns the number of tasks (read so
    /// far, when the call failed before the end of a lazy input) and the call's error.
    func executeCall(
        _ source: InputSource, remote: RemoteTasks? = nil, batches: BatchRunner? = nil, asyncBatches: AsyncBatchRunner? = nil
    ) -> (count: Int, error: (any Error)?) {
        let plan: Plan
        do { plan = try self.plan() } catch {
            reportRejectedCall()
            return (source.count ?? 0, error)
        }
        let job = makeJob(plan, source: source, remote: remote, batches: batches, asyncBatches: asyncBatches)
        job.start(on: plan.backend, named: plan.backendName)
        // A blocking call made from a task still stops when that task is cancelled.
        job.completion.waitBlocking { if Task.isCancelled { job.cancel() } }
        return job.outcome
    }

    /// ``executeCall(_:remote:batches:asyncBatches:)`` without blocking a thread of the
    /// cooperative pool.
    func executeCallAsync(
        _ source: InputSource, remote: RemoteTasks? = nil, batches: BatchRunner? = nil, asyncBatches: AsyncBatchRunner? = nil
    ) async -> (count: Int, error: (any Error)?) {
        let plan: Plan
        do { plan = try self.plan() } catch {
            reportRejectedCall()
            return (source.count ?? 0, error)
        }
        let job = makeJob(plan, source: source, remote: remote, batches: batches, asyncBatches: asyncBatches)
        await withTaskCancellationHandler {
            if asyncBatches == nil {
                startOffTheCooperativePool(job, plan)
            } else {
                job.start(on: plan.backend, named: plan.backendName)
            }
            if let events = job.asyncEvents?.stream {
                // Workers for `async` bodies are child tasks, started as the backend grants them.
                await withTaskGroup(of: Void.self) { group in
                    var started: UInt = 0
                    for await event in events {
                        switch event {
                        case .startWorker:
                            started += 1
                            let worker = UInt.max - started  // apart from thread identifiers
                            group.addTask { await job.runAsyncWorker(worker) }
                        case .stop:
                            group.cancelAll()
                        }
                    }
                }
            }
            await job.completion.wait()
        } onCancel: {
            job.cancel()
        }
        return job.outcome
    }
}
