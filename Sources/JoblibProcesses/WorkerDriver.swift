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
        if let worker { pool.checkIn(worker) }
    }

    /// Runs one batch to its end; returns how many of its tasks got an outcome.
    private func runBatch(_ batch: ParallelBatch, worker: inout WorkerProcess?, retries: inout [Int: Int]) -> Int {
        var pending = Array(batch.indices)
        var completed = 0
        var deathsWithoutCulprit = 0
        while !pending.isEmpty, !batch.callStopped {
            guard let current = worker ?? replacement(for: batch) else { return completed }
            worker = current
            running.set(batch, current)
            batch.reportProgress { current.runningTask }

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
            // A failed send means the worker is gone; that is handled below like any death.
            try? current.send(BatchMessage(typeName: typeName, indices: pending, tasks: encoded, arena: arena.reference))

            var received = 0
            while received < pending.count {
                let results: ResultBatch?
                do { results = try current.receive() } catch { results = nil }
                guard let results else { break }
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
                if batch.callStopped && received < pending.count {
                    // Another task failed the call: this batch's remaining tasks must not run.
                    pool.retire(current, kill: true)
                    worker = nil
                    return completed
                }
            }
            if received == pending.count { return completed }

            // The worker died (or was killed for a timeout). Its status words name the task it
            // was running; the tasks before that one finished, but their results died with it.
            let culprit = current.runningTask?.index
            let status = current.reapAfterDeath()
            worker = nil
            if batch.callStopped { return completed }
            let unreported = Array(pending[received...])
            guard let position = culprit.flatMap({ unreported.firstIndex(of: $0) }) ?? (deathsWithoutCulprit > 0 ? 0 : nil)
            else {
                // Killed between two tasks (from outside): run the rest again, once, blaming none.
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
                let error = ParallelError.workerDied(taskIndex: index, status: status, stderrTail: current.stderrTail)
                guard deliver(index, .failure(error), batch) else { return completed }
            }
            pending = next + unreported[(position + 1)...]
        }
        return completed
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
