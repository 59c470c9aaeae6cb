import Foundation
import JoblibSystem
import SystemPackage
import Synchronization
import Testing
@testable import JoblibRay

/// A real Ray cluster on 127.0.0.1: a head and more nodes, each `ray start --block` in a process
/// group of its own (through `setsid`), so that stopping it stops every process Ray started for
/// that node (raylet, GCS, agents, actors and the Swift workers they run). Small object stores, no
/// dashboard, no usage reporting.
final class RayTestCluster: Sendable {
    let directory: String
    let address: String
    private let ray: String
    private let nodes = Mutex<[String: ChildProcess]>([:])

    @TaskLocal static var current: RayTestCluster?

    /// Process groups of a previous run of this checkout that died before stopping its cluster
    /// (one file per checkout: two checkouts' test runs never kill each other's clusters).
    private static let leftovers = URL(fileURLWithPath: NSTemporaryDirectory())
        .appendingPathComponent("joblib-ray-tests-\(checkoutTag).pgids")

    /// A short stable name for the checkout these tests were built from (FNV-1a of its path).
    static let checkoutTag: String = {
        var digest: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in #filePath.utf8 {
            digest = (digest ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        return String(digest, radix: 16)
    }()

    /// Starts a head (one CPU) and `nodes - 1` more nodes (one CPU each).
    static func start(nodes: Int) throws -> RayTestCluster {
        guard let python = findExecutable("python3"), let ray = findExecutable("ray") else {
            throw ClusterError("python3 or ray is not on PATH; run scripts/setup.sh")
        }
        guard let port = output(python, ["-c", "import ray, socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"])
            .flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
        else {
            throw ClusterError("\(python) cannot import ray: the Ray tests need it. Run scripts/setup.sh "
                + "(or `python3 -m pip install 'ray==2.60.0'`)")
        }
        killLeftovers()
        // Short: Ray puts Unix sockets under it (108 bytes at most for their paths).
        let directory = "/tmp/jr-\(getpid())"
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let cluster = RayTestCluster(ray: ray, directory: directory, address: "127.0.0.1:\(port)")
        do {
            try cluster.startNode("head", ["--head", "--port=\(port)", "--temp-dir=\(directory)/ray"])
            for index in 1..<max(1, nodes) { try cluster.startNode("n\(index)", ["--address=\(cluster.address)"]) }
        } catch {
            cluster.stop()
            throw error
        }
        return cluster
    }

    private init(ray: String, directory: String, address: String) {
        self.ray = ray
        self.directory = directory
        self.address = address
    }

    /// Starts a node and waits until `ray start` says it runs.
    func startNode(_ name: String, _ arguments: [String]) throws {
        let log = "\(directory)/\(name)-\(UUID().uuidString.prefix(8)).log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        defer { try? handle.close() }
        var environment = ProcessInfo.processInfo.environment
        environment["RAY_USAGE_STATS_ENABLED"] = "0"
        let process = try ChildProcess.spawn(
            executable: "/usr/bin/setsid",
            arguments: [ray, "start", "--block", "--node-ip-address=127.0.0.1", "--num-cpus=1",
                        "--object-store-memory=80000000", "--disable-usage-stats"]
                + (name == "head" ? ["--include-dashboard=false"] : []) + arguments,
            environment: environment, descriptors: [(FileDescriptor(rawValue: handle.fileDescriptor), 1)],
            standardError: FileDescriptor(rawValue: handle.fileDescriptor))
        nodes.withLock { $0[name] = process }
        Self.recordLeftover(process.pid)
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let text = try? String(contentsOfFile: log, encoding: .utf8), text.contains("Ray runtime started") { return }
            if let status = process.poll() { throw ClusterError("Ray node \(name) ended (\(status)); see \(log)") }
            usleep(50_000)
        }
        throw ClusterError("Ray node \(name) did not start within 60 s; see \(log)")
    }

    /// SIGKILLs every process of a node (as a host loss would).
    func killNode(_ name: String) {
        guard let process = nodes.withLock({ $0.removeValue(forKey: name) }) else { return }
        kill(-process.pid, SIGKILL)
        _ = process.wait()
    }

    /// Other nodes first, then the head: SIGTERM to `ray start --block` (which stops its node's
    /// processes), then SIGKILL to whatever is left in the node's process group.
    func stop() {
        let all = nodes.withLock { nodes -> [String: ChildProcess] in
            defer { nodes.removeAll() }
            return nodes
        }
        let order = all.filter { $0.key != "head" }.map(\.value) + (all["head"].map { [$0] } ?? [])
        for process in order {
            process.kill(SIGTERM)
            if process.wait(timeout: .seconds(10)) == nil {
                process.kill(SIGKILL)
                _ = process.wait()
            }
            kill(-process.pid, SIGKILL)
        }
        try? FileManager.default.removeItem(at: Self.leftovers)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Pids still alive in the cluster's process groups (empty after ``stop()``).
    static func survivors(of groups: [Int32]) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")")
            else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 3 && fields[0] != "Z" && groups.contains(Int32(fields[3]) ?? 0)
        }
    }

    /// The process groups of the running nodes.
    var groups: [Int32] { nodes.withLock { $0.values.map(\.pid) } }

    private static func recordLeftover(_ pid: Int32) {
        let line = "\(pid)\n"
        if let handle = try? FileHandle(forWritingTo: leftovers) {
            handle.seekToEndOfFile()
            handle.write(line.data(using: .utf8)!)
            try? handle.close()
        } else {
            try? line.write(to: leftovers, atomically: true, encoding: .utf8)
        }
    }

    /// Kills the process groups recorded by a run of this checkout that died before its teardown.
    private static func killLeftovers() {
        guard let text = try? String(contentsOf: leftovers, encoding: .utf8) else { return }
        for pid in text.split(separator: "\n").compactMap({ Int32($0) }) {
            let commandLine = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
            if commandLine.contains("ray") && commandLine.contains("start") { kill(-pid, SIGKILL) }
        }
        try? FileManager.default.removeItem(at: leftovers)
    }
}

struct ClusterError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The standard output of a short command, nil when it fails.
func output(_ executable: String, _ arguments: [String]) -> String? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return nil }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return process.terminationStatus == 0 ? String(decoding: data, as: UTF8.self) : nil
}

/// Runs a suite with a cluster that is stopped afterwards, whatever happened; then checks that
/// nothing of it (Ray's processes, the actors, their Swift workers) is left.
struct RayClusterTrait: SuiteTrait, TestScoping {
    var nodes: Int

    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        let cluster = try RayTestCluster.start(nodes: nodes)
        let groups = cluster.groups
        defer {
            cluster.stop()
            // SIGKILLed processes take a moment to become zombies (reaped by init).
            let deadline = ContinuousClock.now + .seconds(10)
            var left = RayTestCluster.survivors(of: groups)
            while !left.isEmpty && ContinuousClock.now < deadline {
                usleep(100_000)
                left = RayTestCluster.survivors(of: groups)
            }
            #expect(left.isEmpty, "left running after the Ray cluster stopped: \(left)")
        }
        try await RayTestCluster.$current.withValue(cluster) {
            defer { BridgePool.shutDownAll() }
            try await function()
        }
    }
}

extension Trait where Self == RayClusterTrait {
    /// A real Ray cluster on 127.0.0.1 for the suite.
    static func rayCluster(nodes: Int) -> Self { RayClusterTrait(nodes: nodes) }
}
