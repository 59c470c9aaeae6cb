import JoblibSystem
import Synchronization

/// One ``Parallel`` call's work as backends see it: a source of batches for workers to run.
///
/// Backends receive it in ``ParallelBackend/start(_:workers:)``; each worker calls
/// ``runWorker()`` (or loops over ``nextBatch()`` and ``ParallelBatch/run()``). Batch sizes,
/// reading the input, fail-fast, cancellation, timeouts, progress and the call's
/// ``ParallelReport`` are handled here, once for every backend, for blocking and `async` calls.
public final class ParallelJob: Sendable {
    let workers: Int
    /// The workers the call asked for (before capping at the number of tasks).
    package var requestedWorkers: Int { workers }
    /// Runs the tasks of one batch in this thread and returns how many completed (built by the
    /// call's generic entry point around ``ParallelBatch/forEachTask(_:)``, so that its loop is
    /// specialised for the call's types). Nil for calls of `async` closures.
    let runBatch: BatchRunner?
    /// Runs the tasks of one batch of `async` closures in the calling task.
    let runBatchAsync: AsyncBatchRunner?
    let remote: RemoteTasks?
    let source: InputSource
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
    /// Held while inputs are read, so that the sequence's iterator is used by one worker at a time.
    private let inputLock = Mutex<Void>(())
    private let backend: Mutex<(any ParallelBackend)?>
    /// For calls of `async` closures: a worker to start (``runWorker()``) or a stop, for the
    /// calling task, which runs the workers as its child tasks (so they inherit its priority and
    /// task-local values). Finished when the call is.
    let asyncEvents: (stream: AsyncStream<AsyncWorkerEvent>, continuation: AsyncStream<AsyncWorkerEvent>.Continuation)?
    let recorder: ReportRecorder

    struct State {
        var nextIndex = 0
        /// The number of tasks, once known (up front for collections, else when the input ends).
        var total: Int?
        var inFlight: [ParallelBatch] = []
        /// Batches given up on after a timeout whose remote driver has not finished them yet
        /// (it may still encode their tasks).
        var abandoned: [ParallelBatch] = []
        var completedTasks = 0
        var dispatchedBatches = 0
        var error: (any Error)?
        var finished = false
        var sizer: AutoBatchSizer
        /// Seconds per task of the last batch that finished (from hand-out to completion).
        var secondsPerTask: Double?
    }

    init(
        source: InputSource, workers: Int, batchSize: BatchSize, timeout: Duration?,
        nestedConfiguration: ParallelConfiguration, reporter: ProgressReporter, pollsTaskCancellation: Bool,
        retries: Int = 0, remote: RemoteTasks? = nil, recorder: ReportRecorder,
        runBatch: BatchRunner?, runBatchAsync: AsyncBatchRunner? = nil
    ) {
        self.retries = retries
        self.source = source
        self.workers = workers
        self.runBatch = runBatch
        self.runBatchAsync = runBatchAsync
        self.remote = remote
        self.timeout = timeout
        self.timeoutNanoseconds = timeout.map { UInt64(max(Self.nanoseconds($0), 1)) }
        self.nestedConfiguration = nestedConfiguration
        self.reporter = reporter
        self.pollsTaskCancellation = pollsTaskCancellation
        self.recorder = recorder
        self.state = Mutex(State(total: source.count, sizer: AutoBatchSizer(batchSize)))
        self.backend = Mutex(nil)
        self.asyncEvents = runBatchAsync == nil ? nil : AsyncStream.makeStream(of: AsyncWorkerEvent.self)
        remote?.link.attach(self)
    }

    /// The number of tasks in the call: known at once for a collection, and for another
    /// sequence once it has been read to its end (nil until then).
    public var taskCount: Int? { state.withLock { $0.total } }

    /// Seconds per task of the last batch that finished, overheads included (nil before one did).
    package var recentSecondsPerTask: Double? { state.withLock { $0.secondsPerTask } }

    /// Whether every task has been handed out in a batch (what is left runs, or is split off a
    /// running batch by an idle worker).
    package var inputExhausted: Bool { state.withLock { state in state.total.map { state.nextIndex >= $0 } ?? false } }

    /// Tasks not handed out in a batch yet (nil while the count is unknown).
    package var tasksNotHandedOut: Int? { state.withLock { state in state.total.map { max(0, $0 - state.nextIndex) } } }

    /// The error the call failed with (the first one), if any.
    var error: (any Error)? { state.withLock { $0.error } }

    /// The number of tasks (those read so far, when the call stopped before the end of a lazy
    /// input) and the call's error.
    var outcome: (count: Int, error: (any Error)?) { state.withLock { ($0.total ?? $0.nextIndex, $0.error) } }

    /// Starts the backend; the job registers with the watchdog when it has a timeout.
    func start(on backend: any ParallelBackend, named name: String) {
        self.backend.withLock { $0 = backend }
        recorder.start(backendName: name)
        let known = source.count
        reporter.started(backendName: name, workers: workers)
        if known == 0 {
            finish()
            return
        }
        if timeoutNanoseconds != nil { Watchdog.shared.register(self) }
        do {
            try backend.start(self, workers: min(workers, known ?? workers))
        } catch {
            fail(error)
        }
    }

    /// Runs batches until there are none left: what one worker does. For a call of `async`
    /// closures, the worker is a task of the caller's, and this returns at once.
    public func runWorker() {
        if let asyncEvents {
            asyncEvents.continuation.yield(.startWorker)
            return
        }
        let worker = currentThreadIdentifier()
        while let batch = nextBatch(for: worker) { batch.run() }
    }

    /// What a worker of a call of `async` closures does, in a child task of the caller's.
    func runAsyncWorker(_ worker: UInt) async {
        while let batch = nextBatch(for: worker) { await batch.runAsync() }
    }

    /// The call has stopped: the `async` workers' bodies are cancelled.
    private func stopAsyncWorkers() {
        asyncEvents?.continuation.yield(.stop)
    }

    /// The next batch to run, or nil when the call is complete, failed or cancelled.
    public func nextBatch() -> ParallelBatch? { nextBatch(for: currentThreadIdentifier()) }

    func nextBatch(for worker: UInt) -> ParallelBatch? {
        recorder.requested(by: worker)
        if stopped.load(ordering: .relaxed) { return nil }
        // Covers workers that run in the calling task (sequential); pool threads have no task.
        if runBatchAsync == nil, Task.isCancelled {
            cancel()
            return nil
        }
        return takeFreshTasks(for: worker) ?? split(for: worker)
    }

    /// A batch of tasks read from the input now.
    private func takeFreshTasks(for worker: UInt) -> ParallelBatch? {
        let (batch, finishedNow) = inputLock.withLock { _ -> (ParallelBatch?, Bool) in
            let plan = state.withLock { state -> (start: Int, size: Int)? in
                guard !state.finished, state.error == nil else { return nil }
                let remaining = state.total.map { $0 - state.nextIndex } ?? Int.max
                guard remaining > 0 else { return nil }
                let size = state.sizer.nextSize(remaining: remaining, workers: workers) { message in
                    reporter.batchSizeChanged(message)
                }
                return (state.nextIndex, min(size, ParallelBatch.maximumSize))
            }
            guard let plan else { return (nil, false) }
            let (chunk, count) = source.next(start: plan.start, limit: plan.size)
            let now = monotonicNanoseconds()
            let (batch, finishedNow) = state.withLock { state -> (ParallelBatch?, Bool) in
                if count < plan.size { state.total = plan.start + count }
                guard count > 0, !state.finished, state.error == nil else {
                    return (nil, Self.markFinishedIfDone(&state))
                }
                let batch = ParallelBatch(
                    job: self, indices: plan.start..<(plan.start + count), handedOutAt: now, worker: worker, inputs: chunk,
                    // Up to 1/64 of an automatic batch per claim: the tiny-task figures in
                    // BENCHMARKS.md "The engine (issue 16, part A)" were measured with it.
                    claimStep: state.sizer.fixed == nil ? min(64, count / 64) : 1)
                state.nextIndex += count
                state.dispatchedBatches += 1
                state.inFlight.append(batch)
                return (batch, false)
            }
            if let batch { recorder.handedOut(batch, at: now) }
            return (batch, finishedNow)
        }
        // Outside the input lock: finishing calls the report and progress handlers.
        if finishedNow { finish() }
        return batch
    }

    /// The input is exhausted: the unstarted half of the running batch with the most unstarted
    /// tasks, so that an idle worker helps instead of waiting.
    private func split(for worker: UInt) -> ParallelBatch? {
        let now = monotonicNanoseconds()
        let batch = state.withLock { state -> ParallelBatch? in
            guard !state.finished, state.error == nil else { return nil }
            for victim in state.inFlight.sorted(by: { $0.unstarted > $1.unstarted }) where victim.unstarted > 0 {
                guard let range = victim.split() else { continue }
                let batch = ParallelBatch(
                    job: self, indices: range, handedOutAt: now, worker: worker, inputs: victim.inputs,
                    claimStep: min(victim.claimStep, range.count / 2))
                state.dispatchedBatches += 1
                state.inFlight.append(batch)
                return batch
            }
            return nil
        }
        if let batch { recorder.handedOut(batch, at: now) }
        return batch
    }

    /// Records that `batch` has run `completed` of its tasks.
    func batchFinished(_ batch: ParallelBatch, completed: Int) {
        let now = monotonicNanoseconds()
        let update = state.withLock { state -> (Progress, Bool)? in
            // A batch abandoned after a timeout no longer counts.
            guard let position = state.inFlight.firstIndex(where: { $0 === batch }) else {
                state.abandoned.removeAll { $0 === batch }
                return nil
            }
            state.inFlight.remove(at: position)
            state.completedTasks += completed
            if !batch.wasSplit {
                state.sizer.record(size: batch.indices.count, duration: Double(now - batch.handedOutAt) / 1e9)
            }
            if completed > 0 { state.secondsPerTask = Double(now - batch.handedOutAt) / 1e9 / Double(completed) }
            let progress = Progress(
                completed: state.completedTasks, total: state.total, dispatchedBatches: state.dispatchedBatches,
                dispatchedTasks: state.nextIndex, dispatching: state.total.map { state.nextIndex < $0 } ?? true)
            return (progress, Self.markFinishedIfDone(&state))
        }
        guard let (progress, finishedNow) = update else { return }
        recorder.finished(batch, tasks: completed, at: now)
        if progress.total.map({ progress.completed < $0 }) ?? true || finishedNow { reporter.batchCompleted(progress) }
        if finishedNow { finish() }
    }

    /// Fails the call with `error` unless it already failed; unstarted tasks will not run.
    @usableFromInline func fail(_ error: any Error) {
        let finishedNow = state.withLock { state -> Bool in
            if state.error == nil && !state.finished { state.error = error }
            stopped.store(true, ordering: .relaxed)
            return Self.markFinishedIfDone(&state)
        }
        stopAsyncWorkers()
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
            if remote != nil { state.abandoned += expired }
            return (expired, expired.isEmpty ? false : Self.markFinishedIfDone(&state))
        }
        guard !expired.isEmpty else { return }
        stopAsyncWorkers()
        if let backend = backend.withLock({ $0 }) {
            for batch in expired { backend.abandon(batch) }
        }
        if finishedNow { finish() }
    }

    private static func markFinishedIfDone(_ state: inout State) -> Bool {
        guard !state.finished, state.inFlight.isEmpty else { return false }
        guard state.error != nil || state.total == state.completedTasks else { return false }
        state.finished = true
        return true
    }

    private func finish() {
        if timeoutNanoseconds != nil { Watchdog.shared.unregister(self) }
        let (failed, total, completed) = state.withLock { ($0.error != nil, $0.total ?? $0.nextIndex, $0.completedTasks) }
        if !failed { reporter.finished(total: total) }
        reporter.close()
        recorder.deliver(tasks: completed, failed: failed, verbose: reporter.verbose, output: reporter.output, jobs: reporter.jobsLabel)
        asyncEvents?.continuation.finish()
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

    /// The batch in flight that holds the task at `index` (for backends that run tasks elsewhere).
    func batchHolding(_ index: Int) -> ParallelBatch? {
        state.withLock { state in
            state.inFlight.last { $0.indices.contains(index) } ?? state.abandoned.last { $0.indices.contains(index) }
        }
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
        /// Nil while a lazy input is still being read.
        var total: Int?
        var dispatchedBatches: Int
        var dispatchedTasks: Int
        var dispatching: Bool
    }
}

/// What the task that runs a call of `async` closures is asked to do.
enum AsyncWorkerEvent: Sendable {
    /// A backend granted a worker: start a child task running ``ParallelJob/runAsyncWorker(_:)``.
    case startWorker
    /// The call stopped (an error, a timeout, cancellation): cancel the workers' bodies.
    case stop
}

/// Signals the end of a job to a blocked thread or a suspended task.
///
/// One lock guards the one fact (done, and who waits for it), so a blocked thread cannot miss
/// the signal between checking it and sleeping.
final class JobCompletion: Sendable {
    private let state = ConditionLock<(done: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    func signal() {
        let waiter = state.withLock { locked in
            locked.state.done = true
            locked.broadcast()
            defer { locked.state.waiter = nil }
            return locked.state.waiter
        }
        waiter?.resume()
    }

    var isDone: Bool { state.withLock { $0.state.done } }

    /// Blocks until signalled; `poll` runs every 20 ms meanwhile (it checks for cancellation),
    /// outside the lock.
    func waitBlocking(poll: () -> Void) {
        while true {
            let done = state.withLock { locked in
                if !locked.state.done { locked.wait(untilNanoseconds: monotonicNanoseconds() + 20_000_000) }
                return locked.state.done
            }
            if done { return }
            poll()
        }
    }

    /// Suspends until signalled, without blocking a thread.
    func wait() async {
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { locked -> Bool in
                if locked.state.done { return true }
                locked.state.waiter = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
}
