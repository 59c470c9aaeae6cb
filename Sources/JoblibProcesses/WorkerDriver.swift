import JoblibCoding
import JoblibParallel
import JoblibSystem

/// One worker's side of a call: pulls batches from the job, sends them to its worker process,
/// delivers each result, and survives the worker's death by replacing it.
final class WorkerDriver: Sendable {
    let pool: ProcessPool
    let job: ParallelJob
    let remote: RemoteTasks
    let typeName: String
    let running: RunningBatches
    let arena: SharedArgumentArena
    private let initialWorker: WorkerProcess

    init(
        pool: ProcessPool, worker: WorkerProcess, job: ParallelJob, remote: RemoteTasks, typeName: String,
        running: RunningBatches, arena: SharedArgumentArena
    ) {
        self.arena = arena
        self.pool = pool
        self.initialWorker = worker
        self.job = job
        self.remote = remote
        self.typeName = typeName
        self.running = running
    }

    func run() {
        var worker: WorkerProcess? = initialWorker
        var retries: [Int: Int] = [:]
        while let batch = job.nextBatch() {
            let completed = runBatch(batch, worker: &worker, retries: &retries)
            running.set(batch, nil)
            batch.finishRemotely(completed: completed)
            if let current = worker, pool.shouldRecycle(current) {
                pool.retire(current)
                worker = nil
            }
        }
        if let worker {
            // The worker keeps the call's shared arrays from batch to batch; not past the call.
            if arena.reference != nil { worker.releaseArena() }
            pool.checkIn(worker)
        }
    }

    /// How often a driver waiting for results looks at the call (stopped elsewhere?) and at the
    /// running task's time (past the timeout?).
    static let checkInterval: Duration = .milliseconds(20)

    /// Runs one batch to its end; returns how many of its tasks got an outcome.
    private func runBatch(_ batch: ParallelBatch, worker: inout WorkerProcess?, retries: inout [Int: Int]) -> Int {
        var pending = Array(batch.indices)
        var completed = 0
        var deathsWithoutCulprit = 0
        while !pending.isEmpty, !batch.callStopped {
            guard let current = worker ?? replacement(for: batch) else { return completed }
            worker = current
            running.set(batch, current)

            // Encode the batch in one pass; when that fails, find the tasks that cannot be
            // encoded (they fail alone, before anything is sent) and encode the others.
            let encoded: [UInt8]
            if let all = try? remote.encodeBatch(pending, arena) {
                encoded = all
            } else {
                var encodable: [Int] = []
                for index in pending {
                    do {
                        _ = try remote.encode(index, arena)
                        encodable.append(index)
                    } catch {
                        completed += 1
                        guard deliver(index, .failure(error), batch) else { return completed }
                    }
                }
                pending = encodable
                guard !pending.isEmpty else { return completed }
                do {
                    encoded = try remote.encodeBatch(pending, arena)
                } catch {
                    batch.failCall(error)
                    return completed
                }
            }
            // A failed send (EPIPE) means the worker is gone; that is seen below like any death.
            current.send(BatchMessage(typeName: typeName, indices: pending, tasks: encoded, arena: arena.reference))

            var received = 0
            var timedOut: Int?
            waiting: while received < pending.count {
                switch current.receive(timeout: Self.checkInterval) {
                case .ended:
                    break waiting
                case .nothingYet:
                    if batch.callStopped {
                        // The call failed elsewhere, timed out or was cancelled: this batch's running
                        // task must not hold it, so its worker goes now.
                        pool.retire(current, kill: true)
                        worker = nil
                        return completed
                    }
                    if timedOut == nil, let limit = job.taskTimeout, let task = current.runningTask,
                       elapsed(since: task.started) > limit
                    {
                        timedOut = task.index
                        current.kill()
                    }
                case .results(let results):
                    var delivered = 0
                    do {
                        try remote.deliverBatch(results.indices, results.decodedErrors(), results.outputs, &delivered)
                    } catch {
                        received += delivered + 1
                        completed += delivered + 1
                        batch.failCall(error)
                        // A fail-fast error: the rest of this batch must not run; stop the worker.
                        if received < pending.count {
                            pool.retire(current, kill: true)
                            worker = nil
                        }
                        return completed
                    }
                    received += delivered
                    completed += delivered
                    current.tasksRun.add(delivered, ordering: .relaxed)
                    if batch.callStopped, received < pending.count {
                        // Another worker failed the call while this one keeps reporting: its
                        // remaining tasks must not run either.
                        pool.retire(current, kill: true)
                        worker = nil
                        return completed
                    }
                }
            }
            if received == pending.count { return completed }

            // The worker died (or was killed). Its status words name the task it was working on
            // and the stage; the tasks before that one finished, but their results died with it.
            let named = current.runningTask
            let status = current.reapAfterDeath()
            worker = nil
            if batch.callStopped { return completed }
            let unreported = Array(pending[received...])
            if let timedOut {
                // Killed for running past the timeout: that task fails with `timeout` (in `results`
                // the others go on, on a new worker); the others run again.
                var rest = unreported
                if let position = unreported.firstIndex(of: timedOut) {
                    rest.remove(at: position)
                    completed += 1
                    guard deliver(timedOut, .failure(timeoutError(timedOut)), batch) else { return completed }
                }
                pending = rest
                continue
            }
            guard let position = named.flatMap({ unreported.firstIndex(of: $0.index) }) ?? (deathsWithoutCulprit > 0 ? 0 : nil)
            else {
                // Killed between two batches (from outside): run the rest again, once, blaming none.
                deathsWithoutCulprit += 1
                pending = unreported
                continue
            }
            let index = unreported[position]
            var next = Array(unreported[..<position])
            let left = retries[index, default: job.retries]
            if left > 0 {
                retries[index] = left - 1
                next.append(index)
            } else {
                completed += 1
                let stage = named?.index == index ? named?.stage : nil
                let error = ParallelError.workerDied(taskIndex: index, status: status, stderrTail: current.stderrTail, stage: stage)
                guard deliver(index, .failure(error), batch) else { return completed }
            }
            pending = next + unreported[(position + 1)...]
        }
        return completed
    }

    private func elapsed(since started: UInt64) -> Duration {
        let now = monotonicNanoseconds()
        return now > started ? .nanoseconds(Int64(now - started)) : .zero
    }

    private func timeoutError(_ index: Int) -> ParallelError {
        ParallelError(
            .timeout,
            "task \(index) ran longer than the timeout of \(job.taskTimeout ?? .zero): its worker process was killed "
                + "(a new one takes its place)",
            taskIndex: index)
    }

    /// Hands an outcome to the call; false when it failed the call (stop the batch).
    private func deliver(_ index: Int, _ outcome: Result<[UInt8], any Error>, _ batch: ParallelBatch) -> Bool {
        do {
            try remote.deliver(index, outcome)
            return true
        } catch {
            batch.failCall(error)
            return false
        }
    }

    /// A new worker after a death; nil (and the call failed) when none can be started.
    private func replacement(for batch: ParallelBatch) -> WorkerProcess? {
        do {
            return try pool.startWorker()
        } catch {
            batch.failCall(error)
            return nil
        }
    }
}
