import Foundation
import Joblib
import Synchronization

// The Ray backend beside the process backend: 2,000 tasks of ~20 ms CPU on two workers each.
// The Ray cluster (a head and a second node, one CPU each, small object stores, no dashboard, all
// on 127.0.0.1) is started here and stopped at the end; it needs python3 with ray (scripts/setup.sh).

let rayWorkloads: [Workload] = [
    Workload(name: "ray-throughput", summary: "2,000 tasks × ~20 ms on 2 local Ray actors vs .processes: tasks/s, overhead") {
        // Tasks per call (JOBLIB_BENCH_RAY_TASKS, default 2,000; scripts/check-ray-bench.sh runs
        // fewer) and rounds of one `.processes` call then one `.ray` call (JOBLIB_BENCH_ROUNDS,
        // default 3): the figures are the medians.
        let environment = ProcessInfo.processInfo.environment
        let count = max(4, Int(environment["JOBLIB_BENCH_RAY_TASKS"] ?? "") ?? 2_000)
        let rounds = max(1, Int(environment["JOBLIB_BENCH_ROUNDS"] ?? "") ?? 3)
        let steps = calibratedSpins(seconds: 0.020)
        let tasks = (0..<count).map { CalibratedSpinTask(index: $0, steps: steps) }
        let ideal = Double(count) * 0.020 / 2
        let processes = Parallel(jobs: 2, backend: .processes)
        _ = try processes.run(Array(tasks.prefix(4)))  // warm pool

        let cluster = try RayBenchCluster()
        defer { cluster.stop() }
        let ray = Parallel(jobs: 2, backend: .ray(address: cluster.address))
        let coldStart = DispatchTime.now().uptimeNanoseconds
        _ = try ray.run(Array(tasks.prefix(4)))  // starts the bridge, the actors and their Swift workers
        let cold = Double(DispatchTime.now().uptimeNanoseconds - coldStart) / 1e9
        let loadBefore = loadAverage()
        // Alternated, so that both see the same machine (the Ray cluster idles meanwhile).
        var processTimes: [Double] = []
        var rayTimes: [Double] = []
        for round in 1...rounds {
            for (name, parallel) in [("processes", processes), ("ray", ray)] {
                let seconds: Double
                do {
                    seconds = try bestTime(repetitions: 1) { blackHole(try parallel.run(tasks)) }
                } catch {
                    throw BenchError("round \(round), the .\(name) call failed: \(error)")
                }
                if name == "ray" { rayTimes.append(seconds) } else { processTimes.append(seconds) }
                FileHandle.standardError.write(Data(String(format: "ray-throughput: round %d .%@ %.2f s\n", round, name, seconds).utf8))
            }
        }
        let loadAfter = loadAverage()
        let processTime = median(processTimes)
        let rayTime = median(rayTimes)
        let perTask = { (seconds: Double) in (seconds - ideal) / Double(count) * 2 * 1e3 }
        return [
            Figure(workload: "ray-throughput", metric: "processes_tasks_per_s", value: Double(count) / processTime, unit: "tasks/s"),
            Figure(workload: "ray-throughput", metric: "ray_tasks_per_s", value: Double(count) / rayTime, unit: "tasks/s"),
            Figure(workload: "ray-throughput", metric: "processes_wall", value: processTime, unit: "s"),
            Figure(workload: "ray-throughput", metric: "ray_wall", value: rayTime, unit: "s"),
            Figure(workload: "ray-throughput", metric: "ideal_wall", value: ideal, unit: "s"),
            Figure(workload: "ray-throughput", metric: "processes_overhead_per_task", value: perTask(processTime), unit: "ms/task/worker"),
            Figure(workload: "ray-throughput", metric: "ray_overhead_per_task", value: perTask(rayTime), unit: "ms/task/worker"),
            Figure(workload: "ray-throughput", metric: "ray_first_call", value: cold, unit: "s"),
            Figure(workload: "ray-throughput", metric: "ray_over_processes", value: rayTime / processTime, unit: "x"),
            Figure(workload: "ray-throughput", metric: "rounds", value: Double(rounds), unit: "median of"),
            Figure(workload: "ray-throughput", metric: "load_average_before", value: loadBefore, unit: "1 min"),
            Figure(workload: "ray-throughput", metric: "load_average_after", value: loadAfter, unit: "1 min"),
        ]
    },
]

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
