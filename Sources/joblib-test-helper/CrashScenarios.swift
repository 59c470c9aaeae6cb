import Foundation
import Joblib
import JoblibProcesses
import JoblibSystem
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// Scenarios that could kill the process running them (SIGPIPE, a fork bomb), run here so that a
// test only reads this process's exit status and output. Each prints `ok …` when it held.

struct PidTask: ParallelTask {
    var index: Int
    func run() throws -> Int32 { getpid() }
}

/// Returns at once, leaving a thread that traps 100 ms later (as a native library's thread can).
struct BackgroundTrap: ParallelTask {
    var index: Int
    func run() throws -> Int {
        if index == 0 {
            Thread.detachNewThread {
                usleep(100_000)
                fatalError("a background thread traps after its task returned")
            }
        }
        return index
    }
}

struct PrintingTask: ParallelTask {
    var index: Int
    func run() throws -> Int {
        print("hello from task \(index)")
        return index
    }
}

struct EnvironmentProbe: ParallelTask {
    var name: String
    func run() throws -> String { environmentValue(name) ?? "unset" }
}

/// `sigpipe-idle-killed`: the idle workers are killed from outside (as the OOM killer would);
/// the next calls must work, and this process must not die of SIGPIPE.
func runIdleWorkersKilledScenario() throws {
    let parallel = Parallel(jobs: 2, backend: .processes, batchSize: .fixed(1))
    let pids = Set(try parallel.run((0..<8).map { PidTask(index: $0) }))
    for pid in pids { kill(pid, SIGKILL) }
    usleep(50_000)
    for round in 0..<3 {
        let again = try parallel.run((0..<8).map { PidTask(index: $0) })
        guard Set(again).isDisjoint(with: pids) else { print("round \(round) ran on a killed worker"); exit(1) }
    }
    print("ok idle workers killed from outside")
}

/// `sigpipe-background-trap`: a task's background thread kills its worker after the task
/// returned; the next calls must work.
func runBackgroundTrapScenario() throws {
    let parallel = Parallel(jobs: 2, backend: .processes, batchSize: .fixed(1))
    for _ in 0..<3 {
        let values = try parallel.run((0..<4).map { BackgroundTrap(index: $0) })
        guard values == [0, 1, 2, 3] else { print("wrong values \(values)"); exit(1) }
        usleep(300_000)
    }
    print("ok background trap")
}

/// `sigpipe-stream-early-exit`: a `stream(order: .completion)` loop left early, then more calls,
/// then the exit (which shuts the pool down).
func runStreamEarlyExitScenario() throws {
    let done = DispatchSemaphore(value: 0)
    let failure = Mutex<String?>(nil)
    Task.detached {
        do {
            let parallel = Parallel(jobs: 2, backend: .processes, batchSize: .fixed(1))
            for round in 0..<3 {
                for try await (_, _) in parallel.stream((0..<50).map { PidTask(index: $0) }, order: .completion) { break }
                let values = try await parallel.run((0..<4).map { PidTask(index: $0) })
                if values.count != 4 { failure.withLock { $0 = "round \(round): \(values)" } }
            }
        } catch {
            failure.withLock { $0 = "\(error)" }
        }
        done.signal()
    }
    done.wait()
    if let message = failure.withLock({ $0 }) { print("failed: \(message)"); exit(1) }
    print("ok stream left early")
}

/// `no-worker-main`: this program plays a static build whose main does not call
/// `Joblib.workerMain()` (the test sets JOBLIB_WORKER_HOOK_STANDS_ASIDE=1). Its workers run this
/// main again; JOBLIB_TEST_WORKER_BEHAVIOUR says what their "program" does: `starts-workers`
/// (reaches a `.processes` call at once) or `runs-long` (computes for 30 s first).
func runNoWorkerMainScenario() {
    let start = ContinuousClock.now
    do {
        _ = try Parallel(jobs: 2, backend: .processes).run((0..<4).map { PidTask(index: $0) })
        print("failed: the call worked")
    } catch let error as ParallelError where error.code == .workerStartFailed && error.message.contains("Joblib.workerMain()") {
        let elapsed = ContinuousClock.now - start
        print("advice after \(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000) ms")
        print("workers started \(ProcessPool.workersStarted)")
        print("message: \(error.message)")
    } catch {
        print("failed: \(error)")
    }
}

/// What a worker of `no-worker-main` does as "the program".
func runAsMisstartedWorker() {
    if environmentValue("JOBLIB_TEST_WORKER_BEHAVIOUR") == "runs-long" {
        sleep(30)
        print("the program ran for 30 s in a worker")
        exit(0)
    }
    _ = try? Parallel(jobs: 2, backend: .processes).run((0..<4).map { PidTask(index: $0) })
    print("a worker started workers of its own")
    exit(0)
}

/// `stdout`: what tasks print reaches our standard output (a pipe here), before the progress
/// lines that count them (verbose 50 prints progress on standard output).
func runStandardOutputScenario() throws {
    _ = try Parallel(jobs: 2, backend: .processes, batchSize: .fixed(1), verbose: 50).run((0..<6).map { PrintingTask(index: $0) })
    print("ok stdout")
}

/// `worker-environment`: the thread caps and SWIFT_BACKTRACE that workers see, by default and
/// with `innerMaxThreads` given.
func runWorkerEnvironmentScenario() throws {
    func probe(_ name: String) throws -> String {
        try Parallel(jobs: 2, backend: .processes).run([EnvironmentProbe(name: name)])[0]
    }
    print("OMP_NUM_THREADS \(try probe("OMP_NUM_THREADS"))")
    print("OPENBLAS_NUM_THREADS \(try probe("OPENBLAS_NUM_THREADS"))")
    print("SWIFT_BACKTRACE \(try probe("SWIFT_BACKTRACE"))")
    let explicit = try withParallelConfiguration(innerMaxThreads: 1) { try probe("OMP_NUM_THREADS") }
    print("explicit OMP_NUM_THREADS \(explicit)")
}

/// `broken-pipe-writes`: writes to a pipe and a socket whose reader is gone fail with EPIPE; this
/// process (whose SIGPIPE disposition is the default, which kills) survives them.
func runBrokenPipeWritesScenario() throws {
    let bytes: [UInt8] = [1, 2, 3]
    let pipe = try makePipe()
    try pipe.read.close()
    do {
        try bytes.withUnsafeBytes { try pipe.write.writeAllWithoutSignal($0) }
        print("failed: the pipe write succeeded")
    } catch let error as SystemError where error.errno == .brokenPipe {
        print("ok pipe EPIPE")
    }
    try pipe.write.close()
    let (mine, theirs) = try makeSocketPair()
    try theirs.close()
    do {
        try bytes.withUnsafeBytes { try mine.sendAll($0) }
        print("failed: the socket send succeeded")
    } catch let error as SystemError where error.errno == .brokenPipe {
        print("ok socket EPIPE")
    }
    try mine.close()
}
