import Foundation
import Joblib

// The Ray backend beside the process backend: 2,000 tasks of ~20 ms CPU on two workers each.
// The Ray cluster (a head and a second node, one CPU each, small object stores, no dashboard, all
// on 127.0.0.1) is started here and stopped at the end; it needs python3 with ray (scripts/setup.sh).

let rayWorkloads: [Workload] = [
    Workload(name: "ray-throughput", summary: "2,000 tasks × ~20 ms on 2 local Ray actors vs .processes: tasks/s, overhead") {
        try throughputBesideProcesses("ray-throughput", label: "ray") {
            let cluster = try RayBenchCluster()
            return (.ray(address: cluster.address), cluster.stop)
        }
    },
    // Issue 17: a large argument goes through Ray's object store once per call, not once per
    // batch. 40 tasks in 10 batches of 4 (fixed, so that every build sends the same batches), each
    // summing its fortieth of one 50 MB [Double]; .processes (its shared-memory arena) beside it.
    Workload(name: "ray-large-argument", summary: "a 50 MB [Double] shared by 40 tasks in 10 batches on 2 local Ray actors vs .processes") {
        let values = (0..<6_250_000).map { Double($0 % 1_000) }
        let expected = values.reduce(0, +)
        let tasks = (0..<40).map { SliceSumTask(values: values, part: $0, parts: 40) }
        let processes = Parallel(jobs: 2, backend: .processes, batchSize: .fixed(4))
        _ = try processes.run([SliceSumTask(values: [1, 2], part: 0, parts: 1)])  // warm pool

        let cluster = try RayBenchCluster()
        defer { cluster.stop() }
        let ray = Parallel(jobs: 2, backend: .ray(address: cluster.address), batchSize: .fixed(4))
        _ = try ray.run([SliceSumTask(values: [1, 2], part: 0, parts: 1), SliceSumTask(values: [1, 2], part: 0, parts: 1)])
        var processTimes: [Double] = []
        var rayTimes: [Double] = []
        // Alternated, so that both see the same machine.
        for _ in 0..<3 {
            processTimes.append(try bestTime(repetitions: 1) {
                let sum = try processes.run(tasks).reduce(0, +)
                guard sum == expected else { throw BenchError("processes: sum \(sum), expected \(expected)") }
            })
            rayTimes.append(try bestTime(repetitions: 1) {
                let sum = try ray.run(tasks).reduce(0, +)
                guard sum == expected else { throw BenchError("ray: sum \(sum), expected \(expected)") }
            })
        }
        let middle = { (times: [Double]) in times.sorted()[times.count / 2] }
        return [
            Figure(workload: "ray-large-argument", metric: "ray_best", value: rayTimes.min()!, unit: "s"),
            Figure(workload: "ray-large-argument", metric: "ray_median", value: middle(rayTimes), unit: "s"),
            Figure(workload: "ray-large-argument", metric: "processes_best", value: processTimes.min()!, unit: "s"),
            Figure(workload: "ray-large-argument", metric: "processes_median", value: middle(processTimes), unit: "s"),
        ]
    },
]

/// A loopback Ray cluster for the benchmark: each node is `ray start --block` in a session of its
/// own (`setsid`), stopped by SIGTERM and then, for what is left, SIGKILL to its process group.
final class RayBenchCluster {
    let address: String
    private let directory: String
    private var nodes: [Process] = []

    init() throws {
        directory = "/tmp/jrb-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let port = 20_000 + Int(getpid() % 20_000)
        address = "127.0.0.1:\(port)"
        do {
            try launch("head", ["--head", "--port=\(port)", "--include-dashboard=false", "--temp-dir=\(directory)/ray"])
            try launch("node", ["--address=\(address)"])
        } catch {
            stop()
            throw error
        }
    }

    private func launch(_ name: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
        process.arguments = ["ray", "start", "--block", "--node-ip-address=127.0.0.1", "--num-cpus=1",
                             "--object-store-memory=80000000", "--disable-usage-stats"] + arguments
        let log = "\(directory)/\(name).log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        nodes.append(process)
        for _ in 0..<600 {
            if (try? String(contentsOfFile: log, encoding: .utf8))?.contains("Ray runtime started") == true { return }
            if !process.isRunning { throw BenchError("Ray node \(name) ended; see \(log) (is ray installed? scripts/setup.sh)") }
            usleep(100_000)
        }
        throw BenchError("Ray node \(name) did not start in 60 s; see \(log)")
    }

    func stop() {
        for process in nodes.reversed() where process.isRunning {
            process.terminate()
            process.waitUntilExit()
            kill(-process.processIdentifier, SIGKILL)
        }
        nodes.removeAll()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
