import Glibc
import Joblib

// A user's program. The first statement makes it work as its own worker process also when it is
// linked with --static-swift-stdlib (the automatic entry before main cannot run there).
Joblib.workerMain()

struct Double2: ParallelTask {
    var value: Int
    func run() throws -> Int { value * 2 }
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
