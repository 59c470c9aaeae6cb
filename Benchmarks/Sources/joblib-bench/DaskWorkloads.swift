import Foundation
import Joblib

// The Dask backend beside the process backend: 2,000 tasks of ~20 ms CPU on two workers each.
// The Dask cluster (scheduler and two one-thread workers, no nanny, all on 127.0.0.1) is started
// here and stopped at the end; it needs python3 with dask[distributed] (scripts/setup.sh).

/// ~20 ms of CPU: what both backends run.
struct CalibratedSpinTask: ParallelTask {
    var index: Int
    var steps: Int
    func run() throws -> UInt64 { spin(index, steps) }
}

let daskWorkloads: [Workload] = [
    Workload(name: "dask-throughput", summary: "2,000 tasks × ~20 ms on 2 local Dask workers vs .processes: tasks/s, overhead") {
        let count = 2_000
        let steps = calibratedSpins(seconds: 0.020)
        let tasks = (0..<count).map { CalibratedSpinTask(index: $0, steps: steps) }
        let ideal = Double(count) * 0.020 / 2
        let processes = Parallel(jobs: 2, backend: .processes)
        _ = try processes.run(Array(tasks.prefix(4)))  // warm pool
        let processTime = try bestTime(repetitions: 2) { blackHole(try processes.run(tasks)) }

        let cluster = try BenchCluster(workers: 2)
        defer { cluster.stop() }
        let dask = Parallel(jobs: 2, backend: .dask(scheduler: cluster.address))
        let coldStart = DispatchTime.now().uptimeNanoseconds
        _ = try dask.run(Array(tasks.prefix(4)))  // starts the bridge and the Swift workers
        let cold = Double(DispatchTime.now().uptimeNanoseconds - coldStart) / 1e9
        let daskTime = try bestTime(repetitions: 2) { blackHole(try dask.run(tasks)) }
        let perTask = { (seconds: Double) in (seconds - ideal) / Double(count) * 2 * 1e3 }
        return [
            Figure(workload: "dask-throughput", metric: "processes_tasks_per_s", value: Double(count) / processTime, unit: "tasks/s"),
            Figure(workload: "dask-throughput", metric: "dask_tasks_per_s", value: Double(count) / daskTime, unit: "tasks/s"),
            Figure(workload: "dask-throughput", metric: "processes_wall", value: processTime, unit: "s"),
            Figure(workload: "dask-throughput", metric: "dask_wall", value: daskTime, unit: "s"),
            Figure(workload: "dask-throughput", metric: "ideal_wall", value: ideal, unit: "s"),
            Figure(workload: "dask-throughput", metric: "processes_overhead_per_task", value: perTask(processTime), unit: "ms/task/worker"),
            Figure(workload: "dask-throughput", metric: "dask_overhead_per_task", value: perTask(daskTime), unit: "ms/task/worker"),
            Figure(workload: "dask-throughput", metric: "dask_first_call", value: cold, unit: "s"),
            Figure(workload: "dask-throughput", metric: "dask_over_processes", value: daskTime / processTime, unit: "x"),
        ]
    },
]

/// A loopback Dask cluster for the benchmark, stopped (workers first) by pid.
final class BenchCluster {
    private(set) var address = ""
    private let directory: URL
    private var processes: [Process] = []

    init(workers: Int) throws {
        directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("joblib-bench-dask-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent("scheduler.json")
        try launch(["-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                    "--dashboard-address", "127.0.0.1:0", "--scheduler-file", file.path], log: "scheduler.log")
        var found: String?
        for _ in 0..<600 where found == nil {
            if let data = try? Data(contentsOf: file), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
                found = object["address"] as? String
            }
            if found == nil { usleep(100_000) }
        }
        guard let found else {
            stop()
            throw BenchError("the Dask scheduler did not start in 60 s (is dask[distributed] installed? see scripts/setup.sh)")
        }
        address = found
        for index in 1...workers {
            try launch(["-m", "distributed.cli.dask_worker", found, "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny",
                        "--no-dashboard", "--dashboard-address", "127.0.0.1:0", "--name", "bench-w\(index)",
                        "--local-directory", directory.appendingPathComponent("w\(index)").path], log: "worker\(index).log")
        }
        for index in 1...workers {
            let log = directory.appendingPathComponent("worker\(index).log")
            var registered = false
            for _ in 0..<600 where !registered {
                registered = (try? String(contentsOf: log, encoding: .utf8))?.contains("Registered to:") ?? false
                if !registered { usleep(100_000) }
            }
            if !registered {
                stop()
                throw BenchError("Dask worker \(index) did not register in 60 s")
            }
        }
    }

    private func launch(_ arguments: [String], log: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        let url = directory.appendingPathComponent(log)
        _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: url)
        try process.run()
        processes.append(process)
    }

    func stop() {
        for process in processes.dropFirst().reversed() + processes.prefix(1) {
            guard process.isRunning else { continue }
            process.terminate()
            process.waitUntilExit()
        }
        processes.removeAll()
        try? FileManager.default.removeItem(at: directory)
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
