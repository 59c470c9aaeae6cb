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
/// tasks are calibrated; named `label` in the metrics), each twice, alternated so that both see
/// the same machine (the cluster idles meanwhile), and keeps each one's best: throughput, wall
/// time beside the ideal, overhead per task and worker, and the cluster's first call (which starts
/// the bridge and the Swift workers). The cluster is stopped before it returns.
func throughputBesideProcesses(
    _ workload: String, label: String, startCluster: () throws -> (backend: Backend, stop: () -> Void)
) throws -> [Figure] {
    let count = 2_000
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
    var processTime = Double.infinity
    var remoteTime = Double.infinity
    for _ in 0..<2 {
        processTime = min(processTime, try bestTime(repetitions: 1) { blackHole(try processes.run(tasks)) })
        remoteTime = min(remoteTime, try bestTime(repetitions: 1) { blackHole(try remote.run(tasks)) })
    }
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
    ]
}
