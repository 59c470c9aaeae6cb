import Foundation
import Synchronization
import Joblib

// Task types live at file scope: worker processes (this executable, re-executed) find them by name.

struct TinyTask: ParallelTask {
    var value: Int
    func run() throws -> Int { value &* value }
}

/// ``TinyTask`` as a fixed-layout task: batches travel as one block of bytes, without `Codable`.
struct TinyFixedLayoutTask: FixedLayoutTask {
    var value: Int
    func run() throws -> Int { value &* value }
}

struct SpinTask: ParallelTask {
    var milliseconds: Double
    func run() throws -> Int {
        let end = DispatchTime.now().uptimeNanoseconds + UInt64(milliseconds * 1e6)
        var x = 0
        while DispatchTime.now().uptimeNanoseconds < end { x &+= 1 }
        return x
    }
}

struct CrashingTask: ParallelTask {
    var index: Int
    func run() throws -> Int {
        if index == 0 { exit(1) }
        return index
    }
}

/// Starts `sleep 20 &` (its pid goes to `pidFile`), then traps: the helper keeps the worker's
/// standard error open, which must not delay the report of the trap.
struct TrapAfterHelperTask: ParallelTask {
    var index: Int
    var pidFile: String
    func run() throws -> Int {
        if index == 0 {
            _ = system("sleep 20 & echo $! > '\(pidFile)'")
            fatalError("trapped after starting a helper process")
        }
        return index
    }
}

struct SliceSumTask: ParallelTask {
    var values: [Double]
    var part: Int
    var parts: Int
    func run() throws -> Double {
        let size = values.count / parts
        return values[(part * size)..<((part + 1) * size)].reduce(0, +)
    }
}

struct SliceSumArrayTask: ParallelTask {
    var values: NDArray<Double>
    var part: Int
    var parts: Int
    func run() throws -> Double {
        let size = values.count / parts
        return values[(part * size)..<((part + 1) * size)].reduce(0, +)
    }
}

/// Returns a 100 MB array: the large result travels back to the parent.
struct MakeArrayTask: ParallelTask {
    var index: Int
    var count: Int
    func run() throws -> [Double] { [Double](repeating: Double(index), count: count) }
}

/// The same as an `NDArray`, made in shared memory (`shared`) or in ordinary memory.
struct MakeNDArrayTask: ParallelTask {
    var index: Int
    var count: Int
    var shared: Bool
    func run() throws -> NDArray<Double> {
        shared
            ? try NDArray(sharedShape: [count], repeating: Double(index))
            : NDArray(shape: [count], [Double](repeating: Double(index), count: count))
    }
}

/// Runs in a child process of the benchmark: the first call of a fresh process (cold pool).
func runColdStartChild() throws {
    let start = DispatchTime.now().uptimeNanoseconds
    _ = try Parallel(jobs: 2, backend: .processes).run([TinyTask(value: 1), TinyTask(value: 2)])
    print(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
}

/// Python joblib's (loky) figure for the same workload, measured now; nil (with the reason
/// recorded) without python3 + joblib.
private func joblibFigures(_ workload: String, _ which: String) -> Double? {
    guard let output = runComparison(workload, script: "process_bench.py", [which]) else { return nil }
    return namedFigures(output).values.first
}

private func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

/// This process and its children (the workers), for peak-memory figures.
private func processTree() -> [Int32] {
    let me = getpid()
    let children = (try? String(contentsOfFile: "/proc/\(me)/task/\(me)/children", encoding: .utf8)) ?? ""
    return [me] + children.split(separator: " ").compactMap { Int32($0) }
}

/// Resets the peak resident size of every process in the tree (`clear_refs` 5).
private func resetPeaks() {
    for pid in processTree() { try? "5".write(toFile: "/proc/\(pid)/clear_refs", atomically: false, encoding: .utf8) }
}

/// The sum of the tree's peak resident sizes (an upper bound: the peaks need not coincide, and
/// shared pages count in every process that touched them).
private func treePeakBytes() -> Double {
    processTree().reduce(0.0) { total, pid in
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
        let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        return total + kilobytes * 1024
    }
}

/// A process's proportional set size (`Pss` of `/proc/<pid>/smaps_rollup`): a page shared by n
/// processes counts 1/n in each, so the sum over the tree counts every page once.
private func pssBytes(of pid: Int32) -> Double {
    let rollup = (try? String(contentsOfFile: "/proc/\(pid)/smaps_rollup", encoding: .utf8)) ?? ""
    let line = rollup.split(separator: "\n").first { $0.hasPrefix("Pss:") } ?? ""
    let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    return kilobytes * 1024
}

private final class PeakSample: Sendable {
    let state = Mutex((stop: false, peak: 0.0))
}

/// The largest sum of the tree's PSS seen while `body` runs, sampled every ~2 ms on a thread of
/// its own (and once more at the end): what the tree really holds at once, shared pages counted
/// once, unlike the sum of `VmHWM`. Sampling misses peaks shorter than its period.
private func treePeakPSSBytes(during body: () throws -> Void) rethrows -> Double {
    let sample = PeakSample()
    let finished = DispatchSemaphore(value: 0)
    Thread.detachNewThread {
        while true {
            let total = processTree().reduce(0.0) { $0 + pssBytes(of: $1) }
            let stop = sample.state.withLock { state in
                state.peak = max(state.peak, total)
                return state.stop
            }
            if stop { break }
            usleep(2_000)
        }
        finished.signal()
    }
    func stop() -> Double {
        sample.state.withLock { $0.stop = true }
        finished.wait()
        return sample.state.withLock { $0.peak }
    }
    do { try body() } catch {
        _ = stop()
        throw error
    }
    return stop()
}

private func figures(_ name: String, ours: Double, unit: String, joblib: Double?, lowerIsBetter: Bool = true) -> [Figure] {
    var result = [Figure(workload: name, metric: "swift-joblib", value: ours, unit: unit)]
    if let joblib {
        result.append(Figure(workload: name, metric: "joblib", value: joblib, unit: unit))
        result.append(Figure(workload: name, metric: "ratio", value: lowerIsBetter ? joblib / ours : ours / joblib, unit: "x"))
    }
    return result
}

private let processes = Parallel(jobs: 2, backend: .processes)

/// Calls timed by `processes-overhead` (best of them is reported): 3, or `JOBLIB_BENCH_CALLS`
/// (more calls make a profile of the per-task path: `perf record` around the run).
private let overheadCalls = ProcessInfo.processInfo.environment["JOBLIB_BENCH_CALLS"].flatMap { Int($0) } ?? 3

let processWorkloads: [Workload] = [
    Workload(name: "processes-overhead", summary: "per-task cost of 20,000 tiny tasks on 2 worker processes (auto-batching)") {
        _ = try processes.run((0..<100).map { TinyTask(value: $0) })  // warm pool
        let tasks = (0..<20_000).map { TinyTask(value: $0) }
        let seconds = try bestTime(repetitions: overheadCalls) { blackHole(try processes.run(tasks)) }
        return figures("processes-overhead", ours: seconds / 20_000 * 1e6, unit: "us/task", joblib: joblibFigures("processes-overhead", "overhead"))
    },
    Workload(name: "processes-overhead-fixed", summary: "processes-overhead with a FixedLayoutTask (batches as one block of bytes)") {
        _ = try processes.run((0..<100).map { TinyFixedLayoutTask(value: $0) })  // warm pool
        let tasks = (0..<20_000).map { TinyFixedLayoutTask(value: $0) }
        let seconds = try bestTime(repetitions: overheadCalls) { blackHole(try processes.run(tasks)) }
        return figures("processes-overhead-fixed", ours: seconds / 20_000 * 1e6, unit: "us/task", joblib: joblibFigures("processes-overhead-fixed", "overhead"))
    },
    Workload(name: "processes-warm-call", summary: "one call with two tiny tasks on a warm pool") {
        _ = try processes.run([TinyTask(value: 1)])
        var runs: [Double] = []
        for _ in 0..<50 { runs.append(try bestTime(repetitions: 1) { blackHole(try processes.run([TinyTask(value: 1), TinyTask(value: 2)])) }) }
        return figures("processes-warm-call", ours: median(runs) * 1e3, unit: "ms", joblib: joblibFigures("processes-warm-call", "warm"))
    },
    Workload(name: "processes-cold-start", summary: "first call of a fresh process: start 2 workers, run 2 tiny tasks") {
        var runs: [Double] = []
        for _ in 0..<5 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            process.environment = ProcessInfo.processInfo.environment.merging(["JOBLIB_BENCH_CHILD": "cold-start"]) { $1 }
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            if let seconds = Double(output.trimmingCharacters(in: .whitespacesAndNewlines)) { runs.append(seconds) }
        }
        return figures("processes-cold-start", ours: median(runs) * 1e3, unit: "ms", joblib: joblibFigures("processes-cold-start", "cold"))
    },
    Workload(name: "processes-after-crash", summary: "the next call after a task killed its worker (exit(1))") {
        var runs: [Double] = []
        for _ in 0..<5 {
            _ = processes.results((0..<4).map { CrashingTask(index: $0) })
            runs.append(try bestTime(repetitions: 1) { blackHole(try processes.run([TinyTask(value: 1), TinyTask(value: 2)])) })
        }
        return figures("processes-after-crash", ours: median(runs) * 1e3, unit: "ms", joblib: joblibFigures("processes-after-crash", "crash"))
    },
    Workload(name: "processes-crash-with-helper", summary: "report a task that started `sleep 20 &` and trapped (results of 2 tasks)") {
        var runs: [Double] = []
        for run in 0..<5 {
            let pidFile = NSTemporaryDirectory() + "joblib-bench-helper-\(getpid())-\(run).pid"
            runs.append(bestTime(repetitions: 1) {
                blackHole(processes.results((0..<2).map { TrapAfterHelperTask(index: $0, pidFile: pidFile) }))
            })
            if let pid = (try? String(contentsOfFile: pidFile, encoding: .utf8)).flatMap({ Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) {
                kill(pid, SIGKILL)
            }
            try? FileManager.default.removeItem(atPath: pidFile)
        }
        return figures("processes-crash-with-helper", ours: median(runs) * 1e3, unit: "ms", joblib: nil)
    },
    Workload(name: "processes-cpu", summary: "100 tasks of 20 ms CPU: speedup of 2 worker processes over one loop") {
        let tasks = (0..<100).map { _ in SpinTask(milliseconds: 20) }
        let sequential = try bestTime(repetitions: 1) { for task in tasks { blackHole(try task.run()) } }
        let parallel = try bestTime(repetitions: 2) { blackHole(try processes.run(tasks)) }
        return figures("processes-cpu", ours: sequential / parallel, unit: "x", joblib: joblibFigures("processes-cpu", "cpu"), lowerIsBetter: false)
    },
    Workload(name: "processes-large-argument", summary: "a 100 MB [Double] shared by 20 tasks (each sums a slice): first and repeated calls") {
        // Two arrays of different sizes, called alternately: each call is a first call for the
        // workers (the storage they keep from the last call is the other size). Then the same
        // array again and again (workers copy it into the last call's storage).
        let values = (0..<(100_000_000 / 8)).map(Double.init)
        let other = (0..<(100_000_000 / 8 + 8)).map(Double.init)
        let tasks = (0..<20).map { SliceSumTask(values: values, part: $0, parts: 20) }
        let otherTasks = (0..<20).map { SliceSumTask(values: other, part: $0, parts: 20) }
        _ = try processes.run([TinyTask(value: 1)])
        var first: [Double] = []
        for round in 0..<5 {
            first.append(try bestTime(repetitions: 1) { blackHole(try processes.run(round % 2 == 0 ? tasks : otherTasks)) })
        }
        _ = try processes.run(tasks)
        var repeated: [Double] = []
        for _ in 0..<3 { repeated.append(try bestTime(repetitions: 1) { blackHole(try processes.run(tasks)) }) }
        let joblib = joblibFigures("processes-large-argument", "large")
        var result = figures("processes-large-argument", ours: median(first), unit: "s", joblib: joblib)
        result.append(Figure(workload: "processes-large-argument", metric: "swift-joblib-repeated", value: median(repeated), unit: "s"))
        if let joblib { result.append(Figure(workload: "processes-large-argument", metric: "ratio-repeated", value: joblib / median(repeated), unit: "x")) }
        return result
    },
    Workload(name: "processes-large-ndarray", summary: "a 100 MB NDArray<Double> shared by 20 tasks: time and peak memory of the process tree") {
        // Workers map the array's shared memory instead of copying it into an Array.
        let count = 100_000_000 / 8
        return try sliceSums("processes-large-ndarray", of: NDArray(shape: [count], (0..<count).map(Double.init)))
    },
    Workload(name: "processes-large-result", summary: "4 tasks each return a 100 MB [Double] (and NDArray, ordinary and shared)") {
        let count = 100_000_000 / 8
        _ = try processes.run([TinyTask(value: 1)])
        func time<Output>(_ body: () throws -> [Output]) throws -> Double {
            var runs: [Double] = []
            for _ in 0..<3 { runs.append(try bestTime(repetitions: 1) { blackHole(try body()) }) }
            return median(runs)
        }
        let array = try time { try processes.run((0..<4).map { MakeArrayTask(index: $0, count: count) }) }
        let ndarray = try time { try processes.run((0..<4).map { MakeNDArrayTask(index: $0, count: count, shared: false) }) }
        let shared = try time { try processes.run((0..<4).map { MakeNDArrayTask(index: $0, count: count, shared: true) }) }
        let joblib = joblibFigures("processes-large-result", "large-result")
        return figures("processes-large-result", ours: array, unit: "s", joblib: joblib)
            + figures("processes-large-ndarray-result", ours: ndarray, unit: "s", joblib: joblib)
            + figures("processes-large-shared-ndarray-result", ours: shared, unit: "s", joblib: joblib)
    },
    Workload(name: "processes-large-shared-ndarray", summary: "the same with NDArray(sharedShape:): created in shared memory, handed to workers without a copy") {
        let count = 100_000_000 / 8
        var array = try NDArray<Double>(sharedShape: [count], repeating: 0)
        for i in 0..<count { array[i] = Double(i) }
        return try sliceSums("processes-large-shared-ndarray", of: array)
    },
]

/// 20 tasks that each sum a slice of `array` on the process pool: the median of 3 calls against
/// joblib's large-array row, then the process tree's peak RSS and PSS over one more call, as
/// multiples of the array's size.
private func sliceSums(_ workload: String, of array: NDArray<Double>) throws -> [Figure] {
    let tasks = (0..<20).map { SliceSumArrayTask(values: array, part: $0, parts: 20) }
    _ = try processes.run([TinyTask(value: 1)])
    var runs: [Double] = []
    for _ in 0..<3 { runs.append(try bestTime(repetitions: 1) { blackHole(try processes.run(tasks)) }) }
    resetPeaks()
    let size = Double(array.count * 8)
    let pss = try treePeakPSSBytes { blackHole(try processes.run(tasks)) } / size
    let peak = treePeakBytes() / size
    return figures(workload, ours: median(runs), unit: "s", joblib: joblibFigures("processes-large-ndarray", "large"))
        + [Figure(workload: workload, metric: "tree-peak-rss", value: peak, unit: "x-array"),
           Figure(workload: workload, metric: "tree-peak-pss", value: pss, unit: "x-array")]
}
