import JoblibParallel
import JoblibSystem
import Synchronization

/// What makes two calls' workers interchangeable.
struct WorkerSettings: Hashable, Sendable {
    var innerMaxThreads: Int
    /// Given by the caller (it then overrides the user's own `OMP_NUM_THREADS` and the like).
    var innerMaxThreadsIsExplicit: Bool
    var limits: WorkerLimits
}

/// Idle worker processes kept between calls with the same settings, and shut down at exit.
package final class ProcessPool: Sendable {
    let settings: WorkerSettings
    private let idle = Mutex<[WorkerProcess]>([])
    private static let pools = Mutex<[WorkerSettings: ProcessPool]>([:])
    private static let exitHookInstalled = Atomic<Bool>(false)

    private init(settings: WorkerSettings) { self.settings = settings }

    /// The pool for `settings`, created on first use.
    static func pool(for settings: WorkerSettings) -> ProcessPool {
        if !exitHookInstalled.exchange(true, ordering: .relaxed) {
            runAtExit { ProcessPool.shutDownAll() }
        }
        return pools.withLock { pools in
            if let pool = pools[settings] { return pool }
            let pool = ProcessPool(settings: settings)
            pools[settings] = pool
            return pool
        }
    }

    /// Stops every idle worker of every pool (at exit; tests use it to check for leaks).
    package static func shutDownAll() {
        let all = pools.withLock { Array($0.values) }
        for pool in all { pool.shutDown() }
    }

    /// Worker processes this process has started so far (tests count deaths with it).
    package static var workersStarted: Int { WorkerProcess.startedCount.load(ordering: .relaxed) }

    /// Idle workers in every pool, for tests.
    static var idleWorkerCount: Int {
        pools.withLock { Array($0.values) }.reduce(0) { $0 + $1.idle.withLock { $0.count } }
    }

    /// The environment of a new worker: ours, with native thread pools capped so that `jobs`
    /// workers do not oversubscribe the CPUs (a cap the user set in our environment wins, unless
    /// `innerMaxThreads` was given explicitly, as in joblib), and Swift's crash backtraces off
    /// unless the user set `SWIFT_BACKTRACE` (a crash is summarised in the task's error instead).
    var workerEnvironment: [String: String] {
        var environment = currentEnvironment()
        let threads = String(settings.innerMaxThreads)
        for name in Self.threadCapVariables where settings.innerMaxThreadsIsExplicit || environment[name] == nil {
            environment[name] = threads
        }
        if environment["SWIFT_BACKTRACE"] == nil { environment["SWIFT_BACKTRACE"] = "enable=no" }
        return environment
    }

    /// The variables through which native libraries (OpenMP, BLAS, numexpr…) learn their thread count.
    static let threadCapVariables = [
        "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
        "BLIS_NUM_THREADS",
    ]

    /// `count` ready workers: idle ones first, then new ones started together.
    func checkOut(_ count: Int) throws -> [WorkerProcess] {
        var workers = idle.withLock { idle -> [WorkerProcess] in
            let taken = Array(idle.suffix(count))
            idle.removeLast(taken.count)
            return taken
        }
        // An idle worker may have died meanwhile (killed from outside): replace it.
        workers = workers.filter { worker in
            if worker.process.poll() == nil { return true }
            worker.shutDown(grace: .zero)
            return false
        }
        do {
            let fresh = try WorkerProcess.startMany(count - workers.count, environment: workerEnvironment, handshakeTimeout: settings.limits.startTimeout)
            return workers + fresh
        } catch {
            for worker in workers { checkIn(worker) }
            throw error
        }
    }

    func startWorker() throws -> WorkerProcess {
        try WorkerProcess.startMany(1, environment: workerEnvironment, handshakeTimeout: settings.limits.startTimeout)[0]
    }

    func checkIn(_ worker: WorkerProcess) {
        if shouldRecycle(worker) || worker.process.poll() != nil {
            retire(worker)
        } else {
            idle.withLock { $0.append(worker) }
        }
    }

    func shouldRecycle(_ worker: WorkerProcess) -> Bool {
        if let maximum = settings.limits.maxTasks, worker.tasksRun.load(ordering: .relaxed) >= maximum { return true }
        if let limit = settings.limits.memory, let resident = worker.residentBytes, resident > limit.bytes { return true }
        return false
    }

    /// Ends a worker: politely, or at once with `kill`.
    func retire(_ worker: WorkerProcess, kill: Bool = false) {
        worker.shutDown(grace: kill ? .zero : .milliseconds(500))
    }

    func shutDown() {
        let workers = idle.withLock { idle -> [WorkerProcess] in
            defer { idle.removeAll() }
            return idle
        }
        for worker in workers { worker.shutDown(grace: .milliseconds(200)) }
    }
}
