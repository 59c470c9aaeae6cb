import Foundation
import Joblib
import Synchronization

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

/// A loopback Ray cluster for the benchmark. Each node is `ray start --block` spawned here in a
/// session (and process group) of its own and reaped here: stopping it is SIGTERM, then SIGKILL,
/// to that group. Not Foundation's `Process`: it learns that a child ended when a socket that
/// the child's own children inherit closes, so it never saw a node end (the benchmark hung in
/// `waitUntilExit`). SIGINT and SIGTERM stop every node before the benchmark exits.
final class RayBenchCluster {
    let address: String
    private let directory: String
    private var nodes: [pid_t] = []

    /// Nodes of every cluster not stopped yet, with their cluster's directory, for the signal handlers.
    private static let running = Mutex<[pid_t: String]>([:])
    private static let signalSources = Mutex<[any DispatchSourceSignal]>([])

    init() throws {
        Self.stopOnSignals()
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
        let pid = try Self.spawnInOwnSession(argv, output: log)
        nodes.append(pid)
        Self.running.withLock { $0[pid] = directory }
        for _ in 0..<600 {
            if (try? String(contentsOfFile: log, encoding: .utf8))?.contains("Ray runtime started") == true { return }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                nodes.removeAll { $0 == pid }
                Self.running.withLock { $0[pid] = nil }
                kill(-pid, SIGKILL)
                throw BenchError("Ray node \(name) ended; see \(log) (is ray installed? scripts/setup.sh)")
            }
            usleep(100_000)
        }
        throw BenchError("Ray node \(name) did not start in 60 s; see \(log)")
    }

    func stop() {
        for pid in nodes.reversed() { Self.stopNode(pid) }
        nodes.removeAll()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// SIGTERM to the node's group (Ray stops its processes), SIGKILL to what is left after 10 s.
    private static func stopNode(_ pid: pid_t) {
        kill(-pid, SIGTERM)
        var status: Int32 = 0
        var reaped = false
        for _ in 0..<100 where !reaped {
            reaped = waitpid(pid, &status, WNOHANG) == pid
            if !reaped { usleep(100_000) }
        }
        kill(-pid, SIGKILL)
        if !reaped { _ = waitpid(pid, &status, 0) }
        running.withLock { $0[pid] = nil }
    }

    /// `argv` (looked up in PATH) in a new session, its output appended to `output`.
    private static func spawnInOwnSession(_ argv: [String], output: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGPIPE] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        // glibc's POSIX_SPAWN_SETSID (0x80, a GNU extension the Glibc module does not export).
        let setsid: Int32 = 0x80
        posix_spawnattr_setflags(&attributes, Int16(setsid | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pointers: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for pointer in pointers { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawnp(&pid, argv[0], &actions, &attributes, &pointers, environ)
        guard result == 0 else { throw BenchError("could not start \(argv[0]): \(String(cString: strerror(result)))") }
        return pid
    }

    /// SIGINT or SIGTERM (a timeout, ^C) stops the nodes before the benchmark exits.
    private static func stopOnSignals() {
        signalSources.withLock { sources in
            guard sources.isEmpty else { return }
            for number in [SIGINT, SIGTERM] {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler {
                    let nodes = running.withLock { $0 }
                    for pid in nodes.keys { stopNode(pid) }
                    for directory in Set(nodes.values) { try? FileManager.default.removeItem(atPath: directory) }
                    exit(128 + number)
                }
                source.resume()
                sources.append(source)
            }
        }
    }
}
