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
]

/// A loopback Ray cluster for the benchmark: each node is `ray start --block`, spawned and stopped
/// by ``BenchProcesses`` (own session, SIGTERM then SIGKILL to its group, reaped with `waitpid`;
/// stopped on SIGINT and SIGTERM too).
final class RayBenchCluster {
    let address: String
    private let directory: String
    private var nodes: [pid_t] = []

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
        let log = "\(directory)/\(name).log"
        let argv = ["ray", "start", "--block", "--node-ip-address=127.0.0.1", "--num-cpus=1",
                    "--object-store-memory=80000000", "--disable-usage-stats"] + arguments
        let pid = try BenchProcesses.spawn(argv, output: log, directory: directory)
        nodes.append(pid)
        for _ in 0..<600 {
            if (try? String(contentsOfFile: log, encoding: .utf8))?.contains("Ray runtime started") == true { return }
            if BenchProcesses.ended(pid) {
                nodes.removeAll { $0 == pid }
                throw BenchError("Ray node \(name) ended; see \(log) (is ray installed? scripts/setup.sh)")
            }
            usleep(100_000)
        }
        throw BenchError("Ray node \(name) did not start in 60 s; see \(log)")
    }

    /// Other nodes first, then the head.
    func stop() {
        for pid in nodes.reversed() { BenchProcesses.stop(pid) }
        nodes.removeAll()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
