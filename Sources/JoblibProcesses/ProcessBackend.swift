import JoblibParallel
import JoblibSystem
import JoblibTypes
import Synchronization

extension Backend {
    /// Worker processes: the same executable started again, one task at a time per worker.
    ///
    /// A task that traps, crashes or calls `exit` costs that task alone: it fails with
    /// ``/JoblibParallel/ParallelError/Code/workerDied`` and the worker is replaced, while the other tasks go on
    /// (``/JoblibParallel/Parallel/results(_:)-3zw0p`` keeps their outcomes; ``/JoblibParallel/Parallel/retries`` runs such tasks again),
    /// whether it died decoding the task, running it or encoding its result. A task past the call's
    /// `timeout` is stopped for real: its worker is killed (in ``/JoblibParallel/Parallel/results(_:)-3zw0p`` that task's
    /// entry alone fails). A worker that dies, even while idle, never takes the caller with it.
    ///
    /// Only ``/JoblibParallel/ParallelTask`` values run here (closures cannot leave the process); declare task
    /// types at file scope. Workers are kept between calls and end with the program. With
    /// `JOBLIB_MULTIPROCESSING=0` in the environment, calls run on threads instead.
    public static var processes: Backend { processes() }

    /// Worker processes with recycling limits.
    ///
    /// - Parameters:
    ///   - maxTasksPerWorker: a worker is replaced after running this many tasks (leaky native
    ///     code); nil: never. Below 1, calls on the backend throw
    ///     ``/JoblibParallel/ParallelError/Code/invalidWorkerLimit`` before any task runs.
    ///   - memoryLimit: a worker whose resident memory exceeds this after a batch is replaced.
    ///   - startTimeout: how long a new worker may take to become ready.
    ///   - maxNBytes: numeric arrays (and `NDArray`s) at least this large travel once through
    ///     shared memory that workers map read-only, instead of being copied into each task; in
    ///     outputs, they come back through shared memory too (an `NDArray` output is then used in
    ///     place, in shared memory, without a copy).
    public static func processes(
        maxTasksPerWorker: Int? = nil, memoryLimit: ByteCount? = nil, startTimeout: Duration = .seconds(10),
        maxNBytes: ByteCount = .megabytes(1)
    ) -> Backend {
        let limits = WorkerLimits(maxTasks: maxTasksPerWorker, memory: memoryLimit, startTimeout: startTimeout)
        return Backend(name: "processes") {
            // Bad input is an error of the call, never a trap (ARCHITECTURE.md, "Errors").
            if let maxTasks = maxTasksPerWorker, maxTasks < 1 {
                throw ParallelError(
                    .invalidWorkerLimit, "maxTasksPerWorker: \(maxTasks) must be at least 1 (or nil: workers are never replaced)")
            }
            let configuration = ParallelConfiguration.current
            if configuration.processesRunThreads { return try Backend.threads.makeBackend() }
            return ProcessBackend(limits: limits, innerMaxThreads: configuration.innerMaxThreads, maxNBytes: maxNBytes)
        }
    }
}

/// When workers are replaced.
struct WorkerLimits: Hashable, Sendable {
    var maxTasks: Int?
    var memory: ByteCount?
    var startTimeout: Duration
}

/// Runs a call's batches on worker processes taken from a shared pool, one driver thread per
/// worker: the thread sends a batch, waits for each task's result and handles the worker's death.
struct ProcessBackend: ParallelBackend {
    let limits: WorkerLimits
    let innerMaxThreads: Int?
    let maxNBytes: ByteCount
    private let running = RunningBatches()

    init(limits: WorkerLimits, innerMaxThreads: Int?, maxNBytes: ByteCount) {
        self.limits = limits
        self.innerMaxThreads = innerMaxThreads
        self.maxNBytes = maxNBytes
    }

    func start(_ job: ParallelJob, workers: Int) throws {
        guard let remote = job.remoteTasks else {
            throw ParallelError(
                .unsupportedTask,
                "closures cannot run in worker processes; pass ParallelTask values to run(_:), results(_:) or "
                    + "stream(_:order:), or use the .threads backend")
        }
        // Checked before anything is spawned: a type other processes cannot find by name.
        let typeName = try TaskTypeName.name(of: remote.taskType)
        let threads = innerMaxThreads ?? max(1, cpuCount() / max(job.requestedWorkers, 1))
        let pool = ProcessPool.pool(
            for: WorkerSettings(innerMaxThreads: threads, innerMaxThreadsIsExplicit: innerMaxThreads != nil, limits: limits))
        // Workers write to our standard output directly: what this process printed before the
        // call comes first.
        flushStandardOutput()
        let workers = try pool.checkOut(workers)
        let arena = SharedArgumentArena(threshold: maxNBytes)
        let drivers = workers.map {
            WorkerDriver(pool: pool, worker: $0, job: job, typeName: typeName, running: running, arena: arena)
        }
        // The call returns only after every worker is back in the pool and the shared memory is
        // freed, so the next call reuses them and nothing outlives the call.
        for _ in drivers { job.holdCompletion() }
        let queue = DriverQueue(drivers) {
            arena.close()
            for _ in drivers { job.releaseCompletion() }
        }
        do {
            try ThreadPool.shared.submit(count: drivers.count, queue.runNext)
        } catch {
            for worker in workers { pool.checkIn(worker) }
            arena.close()
            for _ in drivers { job.releaseCompletion() }
            throw error
        }
    }

    /// The call failed with a timeout in `batch`: kill the worker running it, so the task really
    /// stops. (Drivers enforce the per-task timeout themselves from the worker's status words, so
    /// that in `results` a timeout costs one entry; this covers any other caller.)
    func abandon(_ batch: ParallelBatch) {
        running.worker(for: batch)?.kill()
    }

    /// The caller cancelled: stop the task running in `batch` now, by killing its worker.
    func interrupt(_ batch: ParallelBatch) {
        running.worker(for: batch)?.kill()
    }
}

/// Which worker runs which batch, for ``ProcessBackend/abandon(_:)``.
final class RunningBatches: Sendable {
    private let map = Mutex<[ObjectIdentifier: WorkerProcess]>([:])
    func set(_ batch: ParallelBatch, _ worker: WorkerProcess?) {
        map.withLock { $0[ObjectIdentifier(batch)] = worker }
    }
    func worker(for batch: ParallelBatch) -> WorkerProcess? { map.withLock { $0[ObjectIdentifier(batch)] } }
}

/// Hands each pool thread one driver (the thread pool runs the same closure `count` times),
/// and runs `whenAllDone` after the last one finishes (the call's shared memory is released).
final class DriverQueue: Sendable {
    private let drivers: Mutex<[WorkerDriver]>
    private let running: Atomic<Int>
    private let whenAllDone: @Sendable () -> Void

    init(_ drivers: [WorkerDriver], whenAllDone: @escaping @Sendable () -> Void) {
        self.drivers = Mutex(drivers)
        self.running = Atomic(drivers.count)
        self.whenAllDone = whenAllDone
    }

    @Sendable func runNext() {
        guard let driver = drivers.withLock({ $0.popLast() }) else { return }
        driver.run()
        if running.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { whenAllDone() }
    }
}
