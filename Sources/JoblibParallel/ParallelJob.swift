import JoblibSystem
import Synchronization

/// One ``Parallel`` call's work as backends see it: a source of batches for workers to run.
///
/// Backends receive it in ``ParallelBackend/start(_:workers:)``; each worker calls
/// ``runWorker()`` (or loops over ``nextBatch()`` and ``ParallelBatch/run()``). Batch sizes,
/// fail-fast, cancellation, timeouts and progress are handled here, once for every backend.
public final class ParallelJob: Sendable {
    /// The number of tasks in the call.
    public let taskCount: Int
    let workers: Int
    /// The workers the call asked for (before capping at the number of tasks).
    package var requestedWorkers: Int { workers }
    /// Runs the tasks of one batch in this thread and returns how many completed (built by the
    /// call's generic entry point around ``ParallelBatch/forEachTask(_:)``, so that its loop is
    /// specialised for the call's types).
    let runBatch: BatchRunner
    let remote: RemoteTasks?
    /// Re-runs allowed for a task whose worker process died (``Parallel/retries``).
    package let retries: Int
    @usableFromInline let timeoutNanoseconds: UInt64?
    let timeout: Duration?
    let nestedConfiguration: ParallelConfiguration
    let reporter: ProgressReporter
    /// Workers run in the calling task (sequential): check its cancellation between tasks.
    @usableFromInline let pollsTaskCancellation: Bool
    let completion = JobCompletion()
    private let holds = Mutex<(count: Int, finished: Bool)>((0, false))
    /// Read between tasks by every worker: set once the call must stop handing out work.
    @usableFromInline let stopped = Atomic<Bool>(false)
    private let state: Mutex<State>
    private let backend: Mutex<(any ParallelBackend)?>

    struct State {
        var nextIndex = 0
        var inFlight: [ParallelBatch] = []
        var completedTasks = 0
        var dispatchedBatches = 0
        var error: (any Error)?
        var finished = false
        var sizer: AutoBatchSizer
    }

    init(
        taskCount: Int, workers: Int, batchSize: BatchSize, timeout: Duration?,
        nestedConfiguration: ParallelConfiguration, reporter: ProgressReporter, pollsTaskCancellation: Bool,
        retries: Int = 0, remote: RemoteTasks? = nil, runBatch: @escaping BatchRunner
    ) {
        self.retries = retries
        self.taskCount = taskCount
        self.workers = workers
        self.runBatch = runBatch
        self.remote = remote
        self.timeout = timeout
        self.timeoutNanoseconds = timeout.map { UInt64(max(Self.nanoseconds($0), 1)) }
        self.nestedConfiguration = nestedConfiguration
        self.reporter = reporter
        self.pollsTaskCancellation = pollsTaskCancellation
        self.state = Mutex(State(sizer: AutoBatchSizer(batchSize)))
        self.backend = Mutex(nil)
    }

    /// The error the call failed with (the first one), if any.
    var error: (any Error)? { state.withLock { $0.error } }

    /// Starts the backend; the job registers with the watchdog when it has a timeout.
    func start(on backend: any ParallelBackend, named name: String) {
        self.backend.withLock { $0 = backend }
        reporter.started(backendName: name, workers: workers)
        if taskCount == 0 {
            finish()
            return
        }
        if timeoutNanoseconds != nil { Watchdog.shared.register(self) }
        do {
            try backend.start(self, workers: min(workers, taskCount))
        } catch {
            fail(error)
        }
    }

    /// Runs batches until there are none left: what one worker does.
    public func runWorker() {
        while let batch = nextBatch() { batch.run() }
    }

    /// The next batch to run, or nil when the call is complete, failed or cancelled.
    public func nextBatch() -> ParallelBatch? {
        if stopped.load(ordering: .relaxed) { return nil }
        // Covers workers that run in the calling task (sequential); pool threads have no task.
        if Task.isCancelled {
            cancel()
            return nil
        }
        let now = monotonicNanoseconds()
        return state.withLock { state -> ParallelBatch? in
            guard !state.finished, state.error == nil, state.nextIndex < taskCount else { return nil }
            let remaining = taskCount - state.nextIndex
            let size = state.sizer.nextSize(remaining: remaining, workers: workers) { message in
                reporter.batchSizeChanged(message)
            }
            let batch = ParallelBatch(job: self, indices: state.nextIndex..<(state.nextIndex + size), handedOutAt: now)
            state.nextIndex += size
            state.dispatchedBatches += 1
            state.inFlight.append(batch)
            return batch
        }
    }

    /// Records that `batch` has run `completed` of its tasks.
    func batchFinished(_ batch: ParallelBatch, completed: Int) {
        let now = monotonicNanoseconds()
        let update = state.withLock { state -> (Progress, Bool)? in
            // A batch abandoned after a timeout no longer counts.
            guard let position = state.inFlight.firstIndex(where: { $0 === batch }) else { return nil }
            state.inFlight.remove(at: position)
            state.completedTasks += completed
            state.sizer.record(size: batch.indices.count, duration: Double(now - batch.handedOutAt) / 1e9)
            let progress = Progress(
                completed: state.completedTasks, dispatchedBatches: state.dispatchedBatches,
                dispatchedTasks: state.nextIndex, dispatching: state.nextIndex < taskCount)
            return (progress, Self.markFinishedIfDone(&state, taskCount: taskCount))
        }
        guard let (progress, finishedNow) = update else { return }
        if progress.completed < taskCount || finishedNow { reporter.batchCompleted(progress) }
        if finishedNow { finish() }
    }

    /// Fails the call with `error` unless it already failed; unstarted tasks will not run.
    @usableFromInline func fail(_ error: any Error) {
        let finishedNow = state.withLock { state -> Bool in
            if state.error == nil { state.error = error }
            stopped.store(true, ordering: .relaxed)
            return Self.markFinishedIfDone(&state, taskCount: taskCount)
        }
        if finishedNow { finish() }
    }

    /// Stops the call: it throws `CancellationError` unless it already failed or finished. Batches
    /// running now are interrupted where the backend can (a worker process is killed).
    func cancel() {
        let running = state.withLock { $0.inFlight }
        fail(CancellationError())
        if !running.isEmpty, let backend = backend.withLock({ $0 }) {
            for batch in running { backend.interrupt(batch) }
        }
    }

    /// Cancels the call when the calling task is cancelled (workers that run in it); true then.
    @usableFromInline func cancelIfTaskCancelled() -> Bool {
        guard Task.isCancelled else { return false }
        cancel()
        return true
    }

    /// Abandons every batch whose current task has run past the timeout (called by the watchdog).
    func checkTimeouts(now: UInt64) {
        guard let limit = timeoutNanoseconds, let timeout else { return }
        let (expired, finishedNow) = state.withLock { state -> ([ParallelBatch], Bool) in
            var expired: [ParallelBatch] = []
            state.inFlight.removeAll { batch in
                guard let (index, started) = batch.currentTask(), now > started, now - started > limit else { return false }
                if state.error == nil { state.error = ParallelError.timeout(taskIndex: index, limit: timeout) }
                expired.append(batch)
                return true
            }
            if !expired.isEmpty {
                stopped.store(true, ordering: .relaxed)
                // The call has failed: it returns now, not when the other workers' tasks end
                // (within the timeout + the watchdog's interval); their batches are abandoned too.
                expired += state.inFlight
                state.inFlight.removeAll()
            }
            return (expired, expired.isEmpty ? false : Self.markFinishedIfDone(&state, taskCount: taskCount))
        }
        if !expired.isEmpty, let backend = backend.withLock({ $0 }) {
            for batch in expired { backend.abandon(batch) }
        }
        if finishedNow { finish() }
    }

    private static func markFinishedIfDone(_ state: inout State, taskCount: Int) -> Bool {
        guard !state.finished, state.inFlight.isEmpty else { return false }
        guard state.error != nil || state.completedTasks == taskCount else { return false }
        state.finished = true
        return true
    }

    private func finish() {
        if timeoutNanoseconds != nil { Watchdog.shared.unregister(self) }
        let failed = state.withLock { $0.error != nil }
        if !failed { reporter.finished() }
        reporter.close()
        let signal = holds.withLock { holds -> Bool in
            holds.finished = true
            return holds.count == 0
        }
        if signal { completion.signal() }
    }

    /// Keeps the call from returning after its last task until ``releaseCompletion()``: a backend
    /// whose workers must be put back (processes returned to their pool, shared memory freed)
    /// holds the call so that the next call finds everything ready.
    package func holdCompletion() {
        holds.withLock { $0.count += 1 }
    }

    /// Ends one ``holdCompletion()``.
    package func releaseCompletion() {
        let signal = holds.withLock { holds -> Bool in
            holds.count -= 1
            return holds.count == 0 && holds.finished
        }
        if signal { completion.signal() }
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return whole.addingReportingOverflow(attoseconds / 1_000_000_000).overflow ? .max : whole + attoseconds / 1_000_000_000
    }

    /// Counters at one batch completion, for progress reporting.
    struct Progress: Sendable {
        var completed: Int
        var dispatchedBatches: Int
        var dispatchedTasks: Int
        var dispatching: Bool
    }
}

/// Runs the tasks of a batch in the calling thread; returns how many completed.
@usableFromInline typealias BatchRunner = @Sendable (ParallelBatch) -> Int

/// A run of consecutive tasks handed to one worker.
public final class ParallelBatch: Sendable {
    /// The indices, in the call's input, of the tasks in this batch.
    public let indices: Range<Int>
    @usableFromInline let job: ParallelJob
    let handedOutAt: UInt64
    /// The task running now and when it started (0: none), for timeouts.
    private let currentIndex = Atomic<Int>(-1)
    private let currentStart = Atomic<UInt64>(0)
    private let remoteProgress = Mutex<(@Sendable () -> (index: Int, started: UInt64)?)?>(nil)

    init(job: ParallelJob, indices: Range<Int>, handedOutAt: UInt64) {
        self.job = job
        self.indices = indices
        self.handedOutAt = handedOutAt
    }

    /// Runs the batch's tasks in this thread, in order, and records their outcomes. Stops early
    /// when the call fails or is cancelled; tasks not started then never run.
    public func run() {
        let job = self.job
        let completed = ParallelConfiguration.$storage.withValue(job.nestedConfiguration) { job.runBatch(self) }
        job.batchFinished(self, completed: completed)
    }

    /// Calls `body` with the index of each of the batch's tasks, in order, and returns how many
    /// completed. The call's checks live here, once for every entry point: a thrown error fails the
    /// call; the loop stops when the call has stopped (checked before every task); workers in the
    /// calling task check its cancellation every 64 tasks; with a timeout, each task is recorded
    /// for the watchdog and its overrun reported when it returns.
    ///
    /// Inlinable so that the loop and `body` are specialised and inlined in the entry point that
    /// builds the call's ``BatchRunner``: a tiny task then costs a few nanoseconds.
    @inlinable
    func forEachTask(_ body: (Int) throws -> Void) -> Int {
        let job = self.job
        if job.timeoutNanoseconds != nil { return forEachTimedTask(body) }
        let polls = job.pollsTaskCancellation
        var completed = 0
        for index in indices {
            if job.stopped.load(ordering: .relaxed) { break }
            // Every 64 tasks: reading the task's state costs more than a tiny task.
            if polls && index & 63 == 0 && job.cancelIfTaskCancelled() { break }
            do { try body(index) } catch {
                job.fail(error)
                break
            }
            completed += 1
        }
        return completed
    }

    /// ``forEachTask(_:)`` for calls with a timeout: every task is recorded for the watchdog.
    @usableFromInline
    func forEachTimedTask(_ body: (Int) throws -> Void) -> Int {
        let job = self.job
        guard let limit = job.timeoutNanoseconds else { return 0 }
        var completed = 0
        for index in indices {
            if job.stopped.load(ordering: .relaxed) { break }
            if job.pollsTaskCancellation && index & 63 == 0 && job.cancelIfTaskCancelled() { break }
            let start = monotonicNanoseconds()
            currentIndex.store(index, ordering: .relaxed)
            currentStart.store(start, ordering: .releasing)
            do { try body(index) } catch {
                job.fail(error)
                break
            }
            currentStart.store(0, ordering: .releasing)
            // Backends that cannot abandon a task (sequential) still report the overrun.
            if monotonicNanoseconds() - start > limit, let timeout = job.timeout {
                job.fail(ParallelError.timeout(taskIndex: index, limit: timeout))
                break
            }
            completed += 1
        }
        return completed
    }

    /// The index and start time of the task running now, if one is.
    func currentTask() -> (index: Int, started: UInt64)? {
        if let remote = remoteProgress.withLock({ $0 }) { return remote() }
        let started = currentStart.load(ordering: .acquiring)
        guard started != 0 else { return nil }
        return (currentIndex.load(ordering: .relaxed), started)
    }

    /// For backends whose workers report the running task themselves (in shared memory): the
    /// watchdog asks `progress` instead of the batch's own record.
    package func reportProgress(with progress: @escaping @Sendable () -> (index: Int, started: UInt64)?) {
        remoteProgress.withLock { $0 = progress }
    }
}

/// Signals the end of a job to a blocked thread or a suspended task.
final class JobCompletion: Sendable {
    private let condition = ThreadCondition()
    private let state = Mutex<(done: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    func signal() {
        let waiter = state.withLock { state in
            state.done = true
            defer { state.waiter = nil }
            return state.waiter
        }
        condition.withLock { condition.broadcast() }
        waiter?.resume()
    }

    var isDone: Bool { state.withLock { $0.done } }

    /// Blocks until signalled; `poll` runs every 20 ms meanwhile (it checks for cancellation).
    func waitBlocking(poll: () -> Void) {
        condition.lock()
        defer { condition.unlock() }
        while !isDone {
            condition.wait(untilNanoseconds: monotonicNanoseconds() + 20_000_000)
            if !isDone {
                condition.unlock()
                poll()
                condition.lock()
            }
        }
    }

    /// Suspends until signalled, without blocking a thread.
    func wait() async {
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { state -> Bool in
                if state.done { return true }
                state.waiter = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
}
