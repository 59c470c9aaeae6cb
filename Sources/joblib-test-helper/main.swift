// A second process for tests that must compare results across processes (hash stability now;
// crash and cache tests later). Not a product: only the test targets use it.
import Foundation
import Joblib
import JoblibSystem
#if canImport(Glibc)
import Glibc
#endif

// A worker of the `no-worker-main` scenario that did not enter worker mode runs this main again
// without arguments: it plays the user's program.
if CommandLine.arguments.count == 1, environmentValue("JOBLIB_WORKER") != nil { runAsMisstartedWorker() }

let arguments = CommandLine.arguments.dropFirst()
switch arguments.first {
case "hash-samples":
    // The same values as HashTests.samples, built in a different insertion order.
    var dictionary: [String: Int] = [:]
    for (key, value) in (0..<100).map({ ("key\($0)", $0) }).reversed() { dictionary[key] = value }
    let samples: [String] = [
        try hash(dictionary),
        try hash(Set((0..<50).map { "element\($0)" }.shuffled())),
        try hash([3: "c", 1: "a", 2: "b"]),
    ]
    print(samples.joined(separator: "\n"))
case "cpu-count":
    print(cpuCount())
case "orphans":
    try runOrphanScenario()
case "fd-leaks":
    try runDescriptorLeakScenario()
case "memory-call":
    // memory-call DIR X DELAY_MS: computes slowSquare(X) through a cache in DIR; each computation
    // appends a line to DIR/computations.log. Prints the result.
    let parts = Array(arguments.dropFirst())
    guard parts.count == 3, let x = Int(parts[1]), let delay = UInt32(parts[2]) else { print("usage: memory-call DIR X DELAY_MS"); exit(2) }
    let directory = parts[0]
    let memory = Memory(location: directory, verbose: 0)
    let square = memory.cache(name: "slowSquare") { (x: Int) -> [Int] in
        usleep(delay * 1000)
        let log = open(directory + "/computations.log", O_WRONLY | O_APPEND | O_CREAT, 0o644)
        let line = "\(getpid())\n"
        _ = line.withCString { write(log, $0, strlen($0)) }
        close(log)
        return [x * x, x]
    }
    print(try square(x))
case "memory-shelve":
    // memory-shelve DIR X: prints the JSON of a MemorizedResult for slowSquare(X).
    let parts = Array(arguments.dropFirst())
    guard parts.count == 2, let x = Int(parts[1]) else { print("usage: memory-shelve DIR X"); exit(2) }
    let square = Memory(location: parts[0], verbose: 0).cache(name: "slowSquare") { (x: Int) -> [Int] in [x * x, x] }
    let shelved = try square.callAndShelve(x)
    print(String(decoding: try JSONEncoder().encode(shelved), as: UTF8.self))
case "memory-get":
    // memory-get JSON: loads a shelved [Int] result.
    guard let json = arguments.dropFirst().first else { print("usage: memory-get JSON"); exit(2) }
    let shelved = try JSONDecoder().decode(MemorizedResult<[Int]>.self, from: Data(json.utf8))
    do { print(try shelved.get()) } catch let error as MemoryError { print("error \(error.code)"); exit(1) }
case "sigpipe-idle-killed":
    try runIdleWorkersKilledScenario()
case "sigpipe-background-trap":
    try runBackgroundTrapScenario()
case "sigpipe-stream-early-exit":
    try runStreamEarlyExitScenario()
case "no-worker-main":
    runNoWorkerMainScenario()
case "broken-pipe-writes":
    try runBrokenPipeWritesScenario()
case "stdout":
    try runStandardOutputScenario()
case "worker-environment":
    try runWorkerEnvironmentScenario()
case "load-limited":
    try runLimitedLoad(Array(arguments.dropFirst()))
case "memory-compute":
    try runMemoryCompute(Array(arguments.dropFirst()))
case "memory-ignore":
    try runMemoryIgnore(Array(arguments.dropFirst()))
case "ray-bridge-orphan":
    try runRayBridgeOrphanScenario(Array(arguments.dropFirst()))
case "ndarray-out-of-range":
    runNDArrayOutOfRange(Array(arguments.dropFirst()))
default:
    print("usage: joblib-test-helper hash-samples|cpu-count|orphans|fd-leaks|memory-call|memory-shelve|memory-get|sigpipe-idle-killed|sigpipe-background-trap|sigpipe-stream-early-exit|no-worker-main|broken-pipe-writes|stdout|worker-environment|load-limited|memory-compute|memory-ignore|ray-bridge-orphan|ndarray-out-of-range")
    exit(2)
}
