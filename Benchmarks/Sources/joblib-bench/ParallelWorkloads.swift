import Dispatch
import Joblib

// Parallel's costs beside DispatchQueue.concurrentPerform and Python joblib's threading backend
// (python/process_bench.py threading-*), all measured in the same run.
// `Parallel.map` is @inlinable: its batch loop is compiled here, specialised for these closures, so
// this file must be recompiled when that loop changes (an incremental build may keep stale code).

let parallelWorkloads: [Workload] = [
    Workload(name: "parallel-overhead", summary: "20,000 tiny tasks: µs per task, sequential / threads / concurrentPerform") {
        let count = 20_000
        let sink = UnsafeMutableBufferPointer<Int>.allocate(capacity: count)
        defer { sink.deallocate() }
        let plain = bestTime(repetitions: 20) {
            for i in 0..<count { sink[i] = i &* 2 }
            blackHole(sink)
        }
        let sequential = try bestTime(repetitions: 20) {
            blackHole(try Parallel(jobs: 1).map(0..<count) { $0 &* 2 })
        }
        let threads = try bestTime(repetitions: 20) {
            blackHole(try Parallel(jobs: 2, backend: .threads).map(0..<count) { $0 &* 2 })
        }
        let address = UInt(bitPattern: sink.baseAddress)
        let perform = bestTime(repetitions: 20) {
            DispatchQueue.concurrentPerform(iterations: count) { i in
                UnsafeMutablePointer<Int>(bitPattern: address)![i] = i &* 2
            }
        }
        let micro = { (seconds: Double) in seconds / Double(count) * 1e6 }
        return [
            Figure(workload: "parallel-overhead", metric: "plain_loop", value: micro(plain), unit: "us/task"),
            Figure(workload: "parallel-overhead", metric: "sequential", value: micro(sequential), unit: "us/task"),
            Figure(workload: "parallel-overhead", metric: "threads_jobs2", value: micro(threads), unit: "us/task"),
            Figure(workload: "parallel-overhead", metric: "concurrentPerform", value: micro(perform), unit: "us/task"),
            Figure(workload: "parallel-overhead", metric: "threads_over_concurrentPerform", value: threads / perform, unit: "x"),
        ] + joblibComparison("parallel-overhead", script: "process_bench.py", "threading-overhead", unit: "us/task", ours: micro(threads))
    },
    Workload(name: "parallel-warm-call", summary: "one warm call with 2 tiny tasks: ms per call") {
        let calls = 2_000
        let threadsParallel = Parallel(jobs: 2, backend: .threads)
        _ = try threadsParallel.map(0..<2) { $0 }  // warm the pool
        let threads = try bestTime(repetitions: 5) {
            for _ in 0..<calls { blackHole(try threadsParallel.map(0..<2) { $0 &+ 1 }) }
        } / Double(calls)
        let sequential = try bestTime(repetitions: 5) {
            for _ in 0..<calls { blackHole(try Parallel(jobs: 1).map(0..<2) { $0 &+ 1 }) }
        } / Double(calls)
        let perform = bestTime(repetitions: 5) {
            for _ in 0..<calls { DispatchQueue.concurrentPerform(iterations: 2) { blackHole($0 &+ 1) } }
        } / Double(calls)
        return [
            Figure(workload: "parallel-warm-call", metric: "sequential", value: sequential * 1e3, unit: "ms"),
            Figure(workload: "parallel-warm-call", metric: "threads_jobs2", value: threads * 1e3, unit: "ms"),
            Figure(workload: "parallel-warm-call", metric: "concurrentPerform", value: perform * 1e3, unit: "ms"),
        ] + joblibComparison("parallel-warm-call", script: "process_bench.py", "threading-warm", unit: "ms", ours: threads * 1e3)
    },
    Workload(name: "parallel-cpu", summary: "100 tasks × ~20 ms CPU: seconds and speedup on 2 workers") {
        let spins = calibratedSpins(seconds: 0.020)
        let tasks = 100
        let sequential = try bestTime(repetitions: 2) {
            blackHole(try Parallel(jobs: 1).map(0..<tasks) { spin($0, spins) })
        }
        let threads = try bestTime(repetitions: 2) {
            blackHole(try Parallel(jobs: 2, backend: .threads).map(0..<tasks) { spin($0, spins) })
        }
        let perform = bestTime(repetitions: 2) {
            DispatchQueue.concurrentPerform(iterations: tasks) { blackHole(spin($0, spins)) }
        }
        return [
            Figure(workload: "parallel-cpu", metric: "sequential", value: sequential, unit: "s"),
            Figure(workload: "parallel-cpu", metric: "threads_jobs2", value: threads, unit: "s"),
            Figure(workload: "parallel-cpu", metric: "concurrentPerform", value: perform, unit: "s"),
            Figure(workload: "parallel-cpu", metric: "threads_speedup", value: sequential / threads, unit: "x"),
            Figure(workload: "parallel-cpu", metric: "concurrentPerform_speedup", value: sequential / perform, unit: "x"),
        ] + joblibComparison("parallel-cpu", script: "process_bench.py", "threading-cpu", unit: "x", ours: sequential / threads, higherIsBetter: true)
    },
]


/// CPU work the optimiser cannot remove: an xorshift loop of `count` steps.
@inline(never) func spin(_ seed: Int, _ count: Int) -> UInt64 {
    var x = UInt64(truncatingIfNeeded: seed) &+ 0x9E37_79B9_7F4A_7C15
    for _ in 0..<count {
        x ^= x << 13
        x ^= x >> 7
        x ^= x << 17
    }
    return x
}

/// The number of `spin` steps that take about `seconds` on this machine.
func calibratedSpins(seconds: Double) -> Int {
    let trial = 2_000_000
    // A seed the optimiser cannot know, or it hoists the pure call out of the timing loop.
    let time = bestTime(repetitions: 5) { blackHole(spin(Int(DispatchTime.now().uptimeNanoseconds & 1), trial)) }
    return Int(Double(trial) * seconds / time)
}
