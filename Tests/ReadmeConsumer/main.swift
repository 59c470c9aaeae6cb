import Glibc
import Joblib

// A user's program. The first statement makes it work as its own worker process also when it is
// linked with --static-swift-stdlib (the automatic entry before main cannot run there).
// CONSUMER_SKIP_WORKER_MAIN=1 plays a program that forgot it (`make test-consumer` checks that
// such a static build gets the advice at once instead of starting workers from its workers).
if getenv("CONSUMER_SKIP_WORKER_MAIN") == nil { Joblib.workerMain() }

struct Double2: ParallelTask {
    var value: Int
    func run() throws -> Int { value * 2 }
}

if CommandLine.arguments.contains("--expect-worker-main-advice") {
    let start = ContinuousClock.now
    do {
        _ = try Parallel(jobs: 2, backend: .processes).run((0..<10).map { Double2(value: $0) })
        print("consumer: the call worked without Joblib.workerMain()")
        exit(1)
    } catch let error as ParallelError where error.code == .workerStartFailed && error.message.contains("Joblib.workerMain()") {
        let elapsed = ContinuousClock.now - start
        guard elapsed < .seconds(2) else { print("consumer: the advice took \(elapsed)"); exit(1) }
        print("consumer: without Joblib.workerMain() the call failed after \(elapsed) with the advice")
        exit(0)
    }
}

// Uses the public API the way a user would; exits non-zero when something is off.
let cpus = cpuCount()
guard cpus >= 1 else { fatalError("cpuCount() returned \(cpus)") }
let doubled = try Parallel(jobs: 2, backend: .processes).run((0..<10).map { Double2(value: $0) })
guard doubled == (0..<10).map({ $0 * 2 }) else { fatalError("wrong results from worker processes: \(doubled)") }
print("consumer: cpuCount() = \(cpus), worker processes answered \(doubled.count) tasks")

// `import Joblib` alone gives `FilePath`, which `dump`, `load` and `Memory(location:)` take
// (Glibc is here for getpid and unlink only; it has no FilePath).
let file = FilePath("/tmp/joblib-consumer-\(getpid()).joblib")
try dump(doubled, to: file)
let loaded = try load([Int].self, from: file)
unlink(file.string)
guard loaded == doubled else { fatalError("load(from: FilePath) returned \(loaded)") }
print("consumer: FilePath from import Joblib; dump and load round-trip")
