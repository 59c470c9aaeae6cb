import JoblibSystem
import Synchronization

/// Runs the tasks of a batch in the calling thread; returns how many completed.
@usableFromInline typealias BatchRunner = @Sendable (ParallelBatch) -> Int

/// Runs the tasks of a batch in the calling task (async bodies); returns how many completed.
@usableFromInline typealias AsyncBatchRunner = @Sendable (ParallelBatch) async -> Int

/// A run of consecutive tasks handed to one worker.
///
/// A batch that runs in this process (``run()``) gives up its tasks not yet started to an idle
/// worker: once the input is exhausted, an idle worker splits off the second half of the
/// unstarted tasks of a running batch, so that a fast task never waits behind a slow one.
public final class ParallelBatch: Sendable {
    /// The indices, in the call's input, of the tasks in this batch (when handed out: a worker
    /// that runs it with ``run()`` may leave its last ones to another worker).
    public let indices: Range<Int>
    @usableFromInline let job: ParallelJob
    let handedOutAt: UInt64
    /// The worker that took the batch, for the call's report.
    let worker: UInt
    /// The batch's inputs (an `InputChunk`, shared with batches split from it).
    @usableFromInline let inputs: (AnyObject & Sendable)?
    /// Offsets into `indices`: the next task to start (low 32 bits) and the end (high 32 bits),
    /// which a split lowers. One atomic word, so that running and splitting never both take a task.
    @usableFromInline let claims: Atomic<UInt64>
    /// Set when the batch's tasks are claimed as they start (``run()`` here, or sent elsewhere in
    /// slices, ``claimSlice(_:)``): only such batches can be split.
    private let runsHere = Atomic<Bool>(false)
    /// The task running now and when it started (0: none), for timeouts.
    @usableFromInline let currentIndex = Atomic<Int>(-1)
    @usableFromInline let currentStart = Atomic<UInt64>(0)
    private let remoteProgress = Mutex<(@Sendable () -> (index: Int, started: UInt64)?)?>(nil)

    /// The largest batch: offsets must fit the 32-bit halves of ``claims``.
    static let maximumSize = 1 << 30

    init(
        job: ParallelJob, indices: Range<Int>, handedOutAt: UInt64, worker: UInt, inputs: (AnyObject & Sendable)?,
        claimStep: Int = 1
    ) {
        precondition(indices.count <= Self.maximumSize)
        self.claimStep = max(1, claimStep)
        self.job = job
        self.indices = indices
        self.handedOutAt = handedOutAt
        self.worker = worker
        self.inputs = inputs
        self.claims = Atomic(UInt64(indices.count) << 32)
    }

    /// Whether another worker took some of the batch's tasks.
    var wasSplit: Bool { Int(claims.load(ordering: .relaxed) >> 32) != indices.count }

    /// Runs the batch's tasks in this thread, in order, and records their outcomes. Stops early
    /// when the call fails or is cancelled; tasks not started then never run.
    public func run() {
        let job = self.job
        runsHere.store(true, ordering: .releasing)
        let start = job.recorder.isActive ? monotonicNanoseconds() : 0
        let completed: Int
        if let runBatch = job.runBatch {
            completed = ParallelConfiguration.$storage.withValue(job.nestedConfiguration) { runBatch(self) }
        } else {
            completed = runAsyncBlocking()
        }
        if start != 0 { job.recorder.ran(worker, nanoseconds: monotonicNanoseconds() - start) }
        job.batchFinished(self, completed: completed)
    }

    /// Runs the batch's async tasks in the calling task.
    func runAsync() async {
        let job = self.job
        runsHere.store(true, ordering: .releasing)
        let start = job.recorder.isActive ? monotonicNanoseconds() : 0
        var completed = 0
        if let runBatch = job.runBatchAsync {
            completed = await ParallelConfiguration.$storage.withValue(job.nestedConfiguration) { await runBatch(self) }
        }
        if start != 0 { job.recorder.ran(worker, nanoseconds: monotonicNanoseconds() - start) }
        job.batchFinished(self, completed: completed)
    }

    /// An async call's batch run by a thread (a custom backend that loops over
    /// ``ParallelJob/nextBatch()`` itself): the thread waits while a task runs the batch.
    private func runAsyncBlocking() -> Int {
        guard let runBatch = job.runBatchAsync else { return 0 }
        let done = ThreadCondition()
        let result = Mutex<Int?>(nil)
        let configuration = job.nestedConfiguration
        Task.detached { [self] in
            let completed = await ParallelConfiguration.$storage.withValue(configuration) { await runBatch(self) }
            done.withLock {
                result.withLock { $0 = completed }
                done.broadcast()
            }
        }
        return done.withLock {
            while result.withLock({ $0 }) == nil { done.wait() }
            return result.withLock { $0 }!
        }
    }

    /// The next task of the batch to start, or nil when none is left.
    @inlinable
    func claimNext() -> Int? { claim(1)?.lowerBound }

    /// The next `count` tasks of the batch (fewer at its end), or nil when none is left.
    @inlinable
    func claim(_ count: Int) -> Range<Int>? {
        let old = claims.wrappingAdd(UInt64(count), ordering: .relaxed).oldValue
        let next = Int(old & 0xFFFF_FFFF)
        let end = Int(old >> 32)
        guard next < end else { return nil }
        return (indices.lowerBound + next)..<(indices.lowerBound + min(next + count, end))
    }

    /// How many tasks a worker claims at a time: one, unless the batch was sized automatically
    /// for tiny tasks (joblib's auto-batching makes a batch of n tasks take 0.2–2 s, so 1/64 of
    /// it, at most 64 tasks, is a few milliseconds of expected work). One atomic operation per
    /// task costs as much as a tiny task (`parallel-overhead` benchmark); a slow task can delay
    /// only the tasks claimed with it.
    @usableFromInline let claimStep: Int

    /// For backends that send tasks elsewhere: the next `count` tasks (fewer at the batch's end),
    /// claimed as a local run claims them, so that an idle worker can split off the tasks not
    /// claimed yet; nil when none is left.
    package func claimSlice(_ count: Int) -> Range<Int>? {
        runsHere.store(true, ordering: .releasing)
        return claim(count)
    }

    /// Takes the second half of the tasks not started yet (all of them when one is left), for
    /// an idle worker; nil when the batch's tasks are not claimed as they start or it has nothing
    /// left to give.
    func split() -> Range<Int>? {
        guard runsHere.load(ordering: .acquiring) else { return nil }
        var old = claims.load(ordering: .relaxed)
        while true {
            let next = old & 0xFFFF_FFFF
            let end = old >> 32
            guard end > next else { return nil }
            let middle = next + (end - next) / 2
            let (exchanged, current) = claims.weakCompareExchange(
                expected: old, desired: middle << 32 | next, ordering: .relaxed)
            if exchanged { return (indices.lowerBound + Int(middle))..<(indices.lowerBound + Int(end)) }
            old = current
        }
    }

    /// Tasks not started yet (a hint for choosing whom to split).
    var unstarted: Int {
        let word = claims.load(ordering: .relaxed)
        return max(0, Int(word >> 32) - Int(word & 0xFFFF_FFFF))
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
        let step = claimStep
        var completed = 0
        claiming: while let claimed = claim(step) {
            for index in claimed {
                if job.stopped.load(ordering: .relaxed) { break claiming }
                // Every 64 tasks: reading the task's state costs more than a tiny task.
                if polls && index & 63 == 0 && job.cancelIfTaskCancelled() { break claiming }
                do { try body(index) } catch {
                    job.fail(error)
                    break claiming
                }
                completed += 1
            }
        }
        return completed
    }

    /// ``forEachTask(_:)`` for calls with a timeout: every task is recorded for the watchdog.
    @usableFromInline
    func forEachTimedTask(_ body: (Int) throws -> Void) -> Int {
        let job = self.job
        var completed = 0
        while !job.stopped.load(ordering: .relaxed), let index = claimNext() {
            if job.pollsTaskCancellation && index & 63 == 0 && job.cancelIfTaskCancelled() { break }
            let start = startTimedTask(index)
            do { try body(index) } catch {
                job.fail(error)
                break
            }
            guard endTimedTask(index, start: start) else { break }
            completed += 1
        }
        return completed
    }

    /// ``forEachTask(_:)`` for `async` bodies.
    @usableFromInline
    func forEachTask(_ body: (Int) async throws -> Void) async -> Int {
        let job = self.job
        var completed = 0
        while !job.stopped.load(ordering: .relaxed), let index = claimNext() {
            let start = startTimedTask(index)
            do { try await body(index) } catch {
                job.fail(error)
                break
            }
            guard endTimedTask(index, start: start) else { break }
            completed += 1
        }
        return completed
    }

    /// Records that task `index` starts now, for the watchdog; returns the start time.
    @usableFromInline
    func startTimedTask(_ index: Int) -> UInt64 {
        let start = monotonicNanoseconds()
        currentIndex.store(index, ordering: .relaxed)
        currentStart.store(start, ordering: .releasing)
        return start
    }

    /// Records that task `index` returned; false when it overran the timeout (the call failed).
    @usableFromInline
    func endTimedTask(_ index: Int, start: UInt64) -> Bool {
        currentStart.store(0, ordering: .releasing)
        // Backends that cannot abandon a task (sequential) still report the overrun.
        if let limit = job.timeoutNanoseconds, monotonicNanoseconds() - start > limit, let timeout = job.timeout {
            job.fail(ParallelError.timeout(taskIndex: index, limit: timeout))
            return false
        }
        return true
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

    /// The batch's inputs, as the entry point that read them knows their type.
    @inlinable
    func inputs<Input: Sendable>(of type: Input.Type) -> InputChunk<Input> {
        unsafeDowncast(inputs!, to: InputChunk<Input>.self)
    }
}
