import Foundation
import JoblibSystem
import JoblibTestSupport
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
    private let nodes: LoopbackClusterProcesses

    @TaskLocal static var current: RayTestCluster?

    /// Starts a head (one CPU) and `nodes - 1` more nodes (one CPU each).
    static func start(nodes: Int) throws -> RayTestCluster {
        guard let python = findExecutable("python3"), let ray = findExecutable("ray") else {
            throw ClusterError("python3 or ray is not on PATH; run scripts/setup.sh")
        }
        guard let port = commandOutput(python, ["-c", "import ray, socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"])
            .flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
        else {
            throw ClusterError("\(python) cannot import ray: the Ray tests need it. Run scripts/setup.sh "
                + "(or `python3 -m pip install 'ray==2.60.0'`)")
        }
        let processes = LoopbackClusterProcesses(kind: "ray", processGroups: true, recognisedBy: ["ray", "start"])
        // Short: Ray puts Unix sockets under it (108 bytes at most for their paths).
        let directory = "/tmp/jr-\(getpid())"
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let cluster = RayTestCluster(ray: ray, directory: directory, address: "127.0.0.1:\(port)", nodes: processes)
        do {
            try cluster.startNode("head", ["--head", "--port=\(port)", "--temp-dir=\(directory)/ray"])
            for index in 1..<max(1, nodes) { try cluster.startNode("n\(index)", ["--address=\(cluster.address)"]) }
        } catch {
            cluster.stop()
            throw error
        }
        return cluster
    }

    private init(ray: String, directory: String, address: String, nodes: LoopbackClusterProcesses) {
        self.ray = ray
        self.directory = directory
        self.address = address
        self.nodes = nodes
    }

    /// Starts a node and waits until `ray start` says it runs.
    func startNode(_ name: String, _ arguments: [String]) throws {
        let log = URL(fileURLWithPath: "\(directory)/\(name)-\(UUID().uuidString.prefix(8)).log")
        var environment = ProcessInfo.processInfo.environment
        environment["RAY_USAGE_STATS_ENABLED"] = "0"
        let process = try nodes.start(
            name, executable: ray,
            arguments: ["start", "--block", "--node-ip-address=127.0.0.1", "--num-cpus=1",
                        "--object-store-memory=80000000", "--disable-usage-stats"]
                + (name == "head" ? ["--include-dashboard=false"] : []) + arguments,
            environment: environment, log: log)
        try LoopbackClusterProcesses.wait(
            for: process, what: "Ray node \(name)", ready: "start", log: log, containing: "Ray runtime started")
    }

    /// SIGKILLs every process of a node (as a host loss would).
    func killNode(_ name: String) { nodes.kill(name) }

    /// Other nodes first, then the head: SIGTERM to `ray start --block` (which stops its node's
    /// processes), then SIGKILL to whatever is left in the node's process group.
    func stop() { nodes.stop(last: "head", grace: .seconds(10), removing: URL(fileURLWithPath: directory)) }

    /// The process groups of the running nodes.
    var groups: [Int32] { Array(nodes.pids.values) }
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
            var left = survivors(ofGroups: groups)
            while !left.isEmpty && ContinuousClock.now < deadline {
                usleep(100_000)
                left = survivors(ofGroups: groups)
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
