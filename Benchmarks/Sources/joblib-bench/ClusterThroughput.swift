import Foundation
import Joblib

// What the dask- and ray-throughput workloads measure, written once: 2,000 tasks of ~20 ms CPU on
// two workers, on `.processes` and on a cluster backend.

/// ~20 ms of CPU: what both backends run.
struct CalibratedSpinTask: ParallelTask {
    var index: Int
    var steps: Int
    func run() throws -> UInt64 { spin(index, steps) }
}

/// Runs the workload on `.processes` and on the cluster that `startCluster` starts (after the
/// tasks are calibrated; named `label` in the metrics), in rounds of one call each, alternated so
/// that both see the same machine (the cluster idles meanwhile), and reports each one's median:
/// throughput, wall time beside the ideal, overhead per task and worker, the cluster's first call
/// (which starts the bridge and the Swift workers), and the load average around the rounds. The
/// cluster is stopped before it returns. `JOBLIB_BENCH_ROUNDS` (default 3) sets the rounds,
/// `JOBLIB_BENCH_CLUSTER_TASKS` (default 2,000) the tasks per call (scripts/check-ray-bench.sh
/// runs fewer); each round's times go to stderr.
func throughputBesideProcesses(
    _ workload: String, label: String, startCluster: () throws -> (backend: Backend, stop: () -> Void)
) throws -> [Figure] {
    let environment = ProcessInfo.processInfo.environment
    let count = max(4, Int(environment["JOBLIB_BENCH_CLUSTER_TASKS"] ?? "") ?? 2_000)
    let rounds = max(1, Int(environment["JOBLIB_BENCH_ROUNDS"] ?? "") ?? 3)
    let steps = calibratedSpins(seconds: 0.020)
    let tasks = (0..<count).map { CalibratedSpinTask(index: $0, steps: steps) }
    let ideal = Double(count) * 0.020 / 2
    let processes = Parallel(jobs: 2, backend: .processes)
    _ = try processes.run(Array(tasks.prefix(4)))  // warm pool
    let cluster = try startCluster()
    defer { cluster.stop() }
    let remote = Parallel(jobs: 2, backend: cluster.backend)
    let coldStart = DispatchTime.now().uptimeNanoseconds
    _ = try remote.run(Array(tasks.prefix(4)))
    let cold = Double(DispatchTime.now().uptimeNanoseconds - coldStart) / 1e9
    let loadBefore = loadAverage()
    var processTimes: [Double] = []
    var remoteTimes: [Double] = []
    for round in 1...rounds {
        for (name, parallel) in [("processes", processes), (label, remote)] {
            let seconds: Double
            do {
                seconds = try bestTime(repetitions: 1) { blackHole(try parallel.run(tasks)) }
            } catch {
                throw BenchError("round \(round), the .\(name) call failed: \(error)")
            }
            if name == label { remoteTimes.append(seconds) } else { processTimes.append(seconds) }
            FileHandle.standardError.write(Data(String(format: "%@: round %d .%@ %.2f s\n", workload, round, name, seconds).utf8))
        }
    }
    let loadAfter = loadAverage()
    let processTime = median(processTimes)
    let remoteTime = median(remoteTimes)
    let perTask = { (seconds: Double) in (seconds - ideal) / Double(count) * 2 * 1e3 }
    return [
        Figure(workload: workload, metric: "processes_tasks_per_s", value: Double(count) / processTime, unit: "tasks/s"),
        Figure(workload: workload, metric: "\(label)_tasks_per_s", value: Double(count) / remoteTime, unit: "tasks/s"),
        Figure(workload: workload, metric: "processes_wall", value: processTime, unit: "s"),
        Figure(workload: workload, metric: "\(label)_wall", value: remoteTime, unit: "s"),
        Figure(workload: workload, metric: "ideal_wall", value: ideal, unit: "s"),
        Figure(workload: workload, metric: "processes_overhead_per_task", value: perTask(processTime), unit: "ms/task/worker"),
        Figure(workload: workload, metric: "\(label)_overhead_per_task", value: perTask(remoteTime), unit: "ms/task/worker"),
        Figure(workload: workload, metric: "\(label)_first_call", value: cold, unit: "s"),
        Figure(workload: workload, metric: "\(label)_over_processes", value: remoteTime / processTime, unit: "x"),
        Figure(workload: workload, metric: "rounds", value: Double(rounds), unit: "median of"),
        Figure(workload: workload, metric: "load_average_before", value: loadBefore, unit: "1 min"),
        Figure(workload: workload, metric: "load_average_after", value: loadAfter, unit: "1 min"),
    ]
}

private func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/// The machine's 1-minute load average (other builds share it), or -1 when unreadable.
private func loadAverage() -> Double {
    let text = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? ""
    return Double(text.split(separator: " ").first ?? "") ?? -1
}
