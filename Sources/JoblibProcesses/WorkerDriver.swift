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
        while let first = pending.first, !batch.callStopped {
            guard let current = worker ?? replacement(for: batch) else { return completed }
            worker = current
            running.set(batch, current)

            // Encode; a task that cannot be encoded fails alone, before it is sent.
            var messages: [TaskMessage] = []
            for index in pending {
                do {
                    messages.append(TaskMessage(index: index, payload: try remote.encode(index, arena)))
                } catch {
                    guard deliver(index, .failure(error), batch) else { return completed + 1 }
                    completed += 1
                }
            }
            pending = messages.map(\.index)
            guard !messages.isEmpty else { return completed }
            do {
                try current.send(BatchMessage(typeName: typeName, tasks: messages, arena: arena.reference))
            } catch {
                // The worker is gone already; its death is handled below like any other.
            }
            _ = first
            batch.markRunning(pending[0])
            var received = 0
            while received < pending.count {
                let result: ResultMessage?
                do { result = try current.receive() } catch { result = nil }
                guard let result else { break }
                received += 1
                let outcome: Result<[UInt8], any Error>
                switch result.outcome {
                case .value(let bytes): outcome = .success(bytes)
                case .error(let message): outcome = .failure(decodeRemoteError(message, taskIndex: result.index))
                }
                current.tasksRun.add(1, ordering: .relaxed)
                completed += 1
                if received < pending.count { batch.markRunning(pending[received]) }
                guard deliver(result.index, outcome, batch) else {
                    // A fail-fast error: the rest of this batch must not run; stop the worker.
                    if received < pending.count { pool.retire(current, kill: true); worker = nil }
                    return completed
                }
            }
            if received == pending.count { return completed }

            // The worker died (or was killed for a timeout) while running pending[received].
            let status = current.reapAfterDeath()
            worker = nil
            if batch.callStopped { return completed }
            let index = pending[received]
            let left = retries[index, default: job.retries]
            if left > 0 {
                retries[index] = left - 1
                pending = Array(pending[received...])
                continue
            }
            let error = ParallelError.workerDied(taskIndex: index, status: status, stderrTail: current.stderrTail)
            completed += 1
            guard deliver(index, .failure(error), batch) else { return completed }
            pending = Array(pending[(received + 1)...])
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
