import JoblibCoding
import JoblibParallel
import JoblibSystem

extension WorkerRuntime {
    /// Runs a batch of fixed-layout tasks (``FixedLayoutTask``): the block is copied out at once
    /// (no user code runs), then the tasks run in a loop with one clock read each, whose end is
    /// the next task's start. As in ``runTasks``, the status words name each task while it runs,
    /// so a death blames it alone, and outcomes go out every 20 ms, after a failure and at the end.
    ///
    /// The loop exists because, once `Codable` was gone, the worker's per-task bookkeeping was
    /// most of a tiny task's cost (clock reads, the task-local configuration, a `Result` per
    /// task through unspecialised generic code: BENCHMARKS.md, "Tiny tasks").
    static func runFixedLayoutTasks<Task: ParallelTask>(
        _ type: Task.Type, _ batch: BatchMessage, results: FrameChannel, status: WorkerStatus
    ) throws {
        let indices = batch.indices
        guard let first = indices.first else { return }
        var pending = PendingOutcomes<Task.Output>(fixedLayout: true)
        var now = monotonicNanoseconds()
        status.begin(first, .decodingTask, at: now)
        var lastFlush = now
        let decoded = Result { try batch.tasks.withUnsafeBytes { try FixedLayoutBlock.elements(of: Task.self, in: $0) } }
        let tasks = (try? decoded.get()) ?? []
        var position = 0
        let runnable = min(tasks.count, indices.count)
        let afterDecoding = monotonicNanoseconds()
        pending.timing.decoding += afterDecoding - now
        now = afterDecoding
        // Outputs are written in place and handed to `pending` in runs (a generic append per
        // task was 15 % of the worker's time). Both types are bitwise copyable
        // (`travelsAsFixedLayout`): the buffers need no deinitialisation.
        let outputs = UnsafeMutablePointer<Task.Output>.allocate(capacity: max(runnable, 1))
        defer { outputs.deallocate() }
        var settled = 0
        func settle() {
            guard position > settled else { return }
            pending.succeed(indices[settled..<position], UnsafeBufferPointer(start: outputs + settled, count: position - settled))
            settled = position
        }
        // The tasks' configuration is set once for the batch, not per task.
        try ParallelConfiguration.withinTask {
            try tasks.withUnsafeBufferPointer { tasks in
                while position < runnable {
                    let index = indices[position]
                    // The stage stays `running` from task to task: two words per task.
                    if position == 0 { status.advance(to: .running) } else { status.next(index, at: now) }
                    var failed = false
                    do {
                        (outputs + position).initialize(to: try tasks[position].run())
                    } catch {
                        settle()
                        pending.fail(index, errorMessage(error, stage: .running))
                        failed = true
                        settled = position + 1
                    }
                    position += 1
                    let end = monotonicNanoseconds()
                    pending.timing.running += end - now
                    now = end
                    // What the task printed is out before its outcome (and survives a later crash).
                    flushStandardOutput()
                    if failed || now - lastFlush >= flushInterval || pending.errorBytes >= flushBytes {
                        settle()
                        try results.send(.results, body: pending.take(status).frameBody())
                        lastFlush = now
                        now = monotonicNanoseconds()
                    }
                }
            }
        }
        settle()
        // Tasks the block did not hold fail with the reason.
        let reason: any Error
        if case .failure(let error) = decoded { reason = error } else {
            reason = CodingError(.typeMismatch, "the batch holds fewer tasks than it lists")
        }
        while position < indices.count {
            pending.fail(indices[position], errorMessage(reason, stage: .decodingTask))
            position += 1
        }
        if !pending.isEmpty {
            flushStandardOutput()
            try results.send(.results, body: pending.take(status).frameBody())
        }
        status.idle()
    }
}

extension WorkerStatus {
    /// Work on task `index` begins at `time`, at the stage of the task before it (two words
    /// instead of three, in the order ``begin(_:_:at:)`` stores them).
    func next(_ index: Int, at time: UInt64) {
        words.store(StatusWord.startedAt, time)
        words.store(StatusWord.runningTask, UInt64(index + 1))
    }
}
