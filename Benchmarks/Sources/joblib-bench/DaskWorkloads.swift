import Foundation
import Joblib

// The Dask backend beside the process backend: 2,000 tasks of ~20 ms CPU on two workers each.
// The Dask cluster (scheduler and two one-thread workers, no nanny, all on 127.0.0.1) is started
// here and stopped at the end; it needs python3 with dask[distributed] (scripts/setup.sh).

let daskWorkloads: [Workload] = [
    Workload(name: "dask-throughput", summary: "2,000 tasks × ~20 ms on 2 local Dask workers vs .processes: tasks/s, overhead") {
        try throughputBesideProcesses("dask-throughput", label: "dask") {
            let cluster = try BenchCluster(workers: 2)
            return (.dask(scheduler: cluster.address), cluster.stop)
        }
    },
]

/// A loopback Dask cluster for the benchmark: its scheduler and workers are spawned and stopped
/// (workers first) by ``BenchProcesses`` (own session, SIGTERM then SIGKILL to its group, reaped
/// with `waitpid`; stopped on SIGINT and SIGTERM too).
final class BenchCluster {
    private(set) var address = ""
    private let directory: URL
    private var processes: [pid_t] = []

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
        let output = directory.appendingPathComponent(log).path
        processes.append(try BenchProcesses.spawn(["python3"] + arguments, output: output, directory: directory.path))
    }

    func stop() {
        for pid in processes.dropFirst().reversed() + processes.prefix(1) { BenchProcesses.stop(pid) }
        processes.removeAll()
        try? FileManager.default.removeItem(at: directory)
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
