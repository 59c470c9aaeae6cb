/// What a backend implements to run ``Parallel``'s work: workers that pull batches from a job.
///
/// Everything else (batch sizing, result order, progress, timeouts, fail-fast, cancellation) is
/// written once above this protocol, in ``ParallelJob``, and shared by every backend. A backend
/// only decides *where* `batch.run()` executes. The whole contract, as a test:
///
/// ```swift
/// struct InlineBackend: ParallelBackend {
///     func start(_ job: ParallelJob, workers: Int) throws {
///         job.runWorker()            // a worker: `while let batch = job.nextBatch() { batch.run() }`
///     }
/// }
/// let squares = try Parallel(jobs: 2, backend: Backend(name: "inline") { InlineBackend() })
///     .map(0..<100) { $0 * $0 }
/// #expect(squares == (0..<100).map { $0 * $0 })
/// ```
///
/// `start` may run the workers before it returns (the sequential backend does) or hand them to
/// threads and return at once (the thread backend does). Each worker calls ``ParallelJob/runWorker()``,
/// or ``ParallelJob/nextBatch()`` and ``ParallelBatch/run()`` itself; every batch handed out must
/// be run exactly once. The call finishes when every batch has run or the job has stopped.
public protocol ParallelBackend: Sendable {
    /// Starts `workers` workers on `job` (never more than the job has batches for).
    ///
    /// - Throws: when no worker can be started; the call then fails with this error.
    func start(_ job: ParallelJob, workers: Int) throws

    /// A task of `batch` ran longer than the call's timeout and the call has failed with
    /// ``ParallelError/Code/timeout``. A backend that can, stops the worker running it (a process is
    /// killed) or stops counting on it (a thread is abandoned and replaced). The default does
    /// nothing: the batch finishes in its own time and its result is discarded.
    func abandon(_ batch: ParallelBatch)

    /// The caller cancelled the call while `batch` runs. A backend that can stop the running task
    /// at once does (a process is killed); the default lets the current task finish, and the
    /// batch's remaining tasks do not start.
    func interrupt(_ batch: ParallelBatch)
}

extension ParallelBackend {
    /// Does nothing: the batch finishes in its own time and its result is discarded.
    public func abandon(_ batch: ParallelBatch) {}

    /// Does nothing: the current task finishes, the rest of the batch does not start.
    public func interrupt(_ batch: ParallelBatch) {}
}
