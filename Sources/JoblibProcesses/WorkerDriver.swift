import JoblibCoding
import JoblibParallel
import JoblibSystem

/// One worker's side of a call: pulls batches from the job and runs each through its
/// ``RemoteBatch`` state machine (which decides what to send, whom a death blames, retries and
/// timeouts), sending to its worker process and replacing the worker after a death.
final class WorkerDriver: Sendable {
    let pool: ProcessPool
    let job: ParallelJob
    let typeName: String
    let running: RunningBatches
    let arena: SharedArgumentArena
    private let initialWorker: WorkerProcess

    init(
        pool: ProcessPool, worker: WorkerProcess, job: ParallelJob, typeName: String,
        running: RunningBatches, arena: SharedArgumentArena
    ) {
        self.arena = arena
        self.pool = pool
        self.initialWorker = worker
        self.job = job
        self.typeName = typeName
        self.running = running
    }

    func run() {
        var worker: WorkerProcess? = initialWorker
        while let batch = job.nextBatch() {
            var state = RemoteBatch(batch, sections: arena)
            drive(&state, worker: &worker)
            running.set(batch, nil)
            state.finish()
            if let current = worker, pool.shouldRecycle(current) {
                pool.retire(current, kill: false)
                worker = nil
            }
        }
        if let worker {
            // The worker keeps the call's shared arrays from batch to batch; not past the call.
            if arena.hasSections { worker.releaseArena() }
            pool.checkIn(worker)
        }
    }

    /// How often a driver waiting for results looks at the call (stopped elsewhere?) and at the
    /// running task's time (past the timeout?). 20 ms, the workers' flush interval: a stop or a
    /// timeout is acted on within the time a result may wait anyway. Chosen, not measured.
    static let checkInterval: Duration = .milliseconds(20)

    /// Does what the batch's state machine says until the batch is over: sends its tasks to the
    /// worker (a replacement after a death) and turns what the worker does into its events.
    private func drive(_ state: inout RemoteBatch, worker: inout WorkerProcess?) {
        let batch = state.batch
        var step = state.start()
        // The task the driver killed the worker for (past the timeout), until the death is seen.
        var timedOut: Int?
        while true {
            switch step {
            case .done:
                return
            case .abandon:
                // The call stopped elsewhere (an error, a timeout, a cancellation): the tasks this
                // worker runs must not hold it, so the worker goes now.
                if let current = worker { pool.retire(current, kill: true) }
                worker = nil
                return
            case .send(let indices, let tasks):
                guard let current = worker ?? replacement(for: batch) else { return }
                worker = current
                running.set(batch, current)
                let reference: ArenaReference?
                do {
                    reference = try arena.reference(readingParentMemory: current.readsParentMemory)
                } catch {
                    // The memory file for a worker that may not read this process could not be
                    // made: the call fails with why, and the worker goes (a slice of the batch
                    // may be in flight).
                    batch.failCall(error)
                    step = .abandon
                    continue
                }
                // A failed send (EPIPE) means the worker is gone; that is seen below like any death.
                current.send(BatchMessage(
                    typeName: typeName, indices: indices, tasks: tasks, arena: reference, resultThreshold: arena.threshold))
                step = state.sentSlice()
            case .wait:
                guard let current = worker else { return }
                switch current.receive(timeout: Self.checkInterval) {
                case .nothingYet:
                    if batch.callStopped {
                        step = .abandon
                    } else if timedOut == nil, let limit = job.taskTimeout, let task = current.runningTask,
                              elapsed(since: task.started) > limit
                    {
                        timedOut = task.index
                        current.kill()
                    }
                case .results(let results, let sections):
                    current.tasksRun.add(results.count, ordering: .relaxed)
                    step = state.handle(.results(
                        indices: results.indices, errors: results.decodedErrors(), outputs: results.outputs, timing: results.timing,
                        sections: sections))
                case .ended:
                    // Its status words name the task it was working on and the stage.
                    let named = current.runningTask
                    let status = current.reapAfterDeath()
                    worker = nil
                    if let index = timedOut {
                        timedOut = nil
                        step = state.handle(.timedOut(index))
                    } else {
                        step = state.handle(.died(
                            status: status, runningTask: named?.index, stage: named?.stage, stderrTail: current.stderrTail))
                    }
                }
            }
        }
    }

    private func elapsed(since started: UInt64) -> Duration {
        let now = monotonicNanoseconds()
        return now > started ? .nanoseconds(Int64(now - started)) : .zero
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
