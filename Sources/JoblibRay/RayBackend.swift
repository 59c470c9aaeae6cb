import JoblibBridge
import JoblibParallel
import JoblibProcesses
import JoblibSystem

extension Backend {
    /// An existing Ray cluster: the head at `address` (`"10.0.0.1:6379"`, or `"auto"` for the
    /// cluster this machine belongs to) runs the call's tasks in long-lived Ray actors, one per
    /// worker slot of the cluster, each hosting a copy of this same executable in worker mode.
    ///
    /// This program starts a small Python bridge (Python with `ray` must be installed here and on
    /// the nodes, same versions); the executable must exist at the same path on every node (see
    /// `RunningOnRay.md`). Tasks travel as the same bytes as with
    /// ``/JoblibProcesses/JoblibParallel/Backend/processes``, packed by the auto-batching.
    ///
    /// Only ``/JoblibParallel/ParallelTask`` values run here; declare task types at file scope. A
    /// batch whose actor Ray loses (its process killed, its node gone) runs again on a new actor
    /// (at-least-once: side effects may repeat); a task that crashes its Swift worker fails alone
    /// with ``/JoblibParallel/ParallelError/Code/workerDied``; the call's `timeout` kills the Swift
    /// worker running an overrunning task. The cluster's size, not `jobs`, sets how many tasks run
    /// at once (``RayOptions/maxWorkers`` caps it).
    public static func ray(address: String) -> Backend { ray(address: address, options: RayOptions()) }

    /// A Ray cluster with explicit options.
    public static func ray(address: String, options: RayOptions) -> Backend {
        .bridged(name: "ray", settings: RaySettings(address: address, options: options))
    }
}

/// How the Ray backend reaches its cluster, what its workers ask of it, and when it gives up.
public struct RayOptions: Hashable, Sendable {
    /// The Python interpreter that runs the bridge: a path, or a name looked up in `PATH`.
    public var python: String
    /// The Ray namespace of the bridge's actors (nil: an anonymous one).
    public var namespace: String?
    /// How long connecting to the cluster may take before the call fails with
    /// ``RayError/Code/clusterUnreachable``.
    public var connectTimeout: Duration
    /// How long the cluster may have no node that can host a Swift worker while tasks wait,
    /// before they fail with ``RayError/Code/noNodes`` (also at start). A call's `timeout`, when
    /// shorter, takes its place.
    public var noNodesTimeout: Duration
    /// CPUs each Swift worker's actor reserves (Ray's `num_cpus`): the cluster runs as many
    /// workers as its nodes have room for.
    public var numCPUs: Double
    /// Custom Ray resources each actor reserves (`resources=` of `ray.remote`), such as a node
    /// label `["swift": 1]`.
    public var resources: [String: Double]
    /// At most this many Swift workers on the cluster (nil: as many as fit).
    public var maxWorkers: Int?
    /// The executable the actors start: nil for this program's own path, which must then be the
    /// same on every node.
    public var workerExecutable: String?
    /// Whether each actor checks that its executable is byte for byte the driver's (SHA-256),
    /// so that a stale build on one node is a clear error instead of wrong answers.
    public var checksWorkerExecutable: Bool
    /// Ray's `runtime_env` for the bridge's job, as a JSON object (for example
    /// `{"working_dir": "dist"}`, which Ray uploads to every node and makes the actors' current
    /// directory: with a relative ``workerExecutable`` the nodes run the uploaded copy).
    public var runtimeEnvironment: String?

    /// Options; every default suits a cluster on a local network.
    public init(
        python: String = "python3", namespace: String? = nil, connectTimeout: Duration = .seconds(10),
        noNodesTimeout: Duration = .seconds(30), numCPUs: Double = 1, resources: [String: Double] = [:],
        maxWorkers: Int? = nil, workerExecutable: String? = nil, checksWorkerExecutable: Bool = true,
        runtimeEnvironment: String? = nil
    ) {
        self.python = python
        self.namespace = namespace
        self.connectTimeout = connectTimeout
        self.noNodesTimeout = noNodesTimeout
        self.numCPUs = numCPUs
        self.resources = resources
        self.maxWorkers = maxWorkers
        self.workerExecutable = workerExecutable
        self.checksWorkerExecutable = checksWorkerExecutable
        self.runtimeEnvironment = runtimeEnvironment
    }
}

/// What makes two calls' bridges interchangeable, and everything Ray-specific the shared bridge
/// machinery (JoblibBridge) needs.
struct RaySettings: BridgeSettings {
    var address: String
    var options: RayOptions
    /// A call's timeout, when shorter than ``RayOptions/noNodesTimeout``: how long a bridge that
    /// this call starts waits for room for its actors. Not part of the bridge's identity (a
    /// bridge with actors in place serves every call; each batch's own timeout bounds its wait
    /// for a node during the call), so that calls with different timeouts share one bridge.
    var startWait: Duration?

    init(address: String, options: RayOptions, startWait: Duration? = nil) {
        self.address = address
        self.options = options
        self.startWait = startWait
    }

    static func == (lhs: RaySettings, rhs: RaySettings) -> Bool {
        lhs.address == rhs.address && lhs.options == rhs.options
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(address)
        hasher.combine(options)
    }

    private var noNodesWait: Duration { min(startWait ?? options.noNodesTimeout, options.noNodesTimeout) }

    /// The Ray version the package is tested with (`scripts/setup.sh` installs it).
    static let pinnedVersion = "2.60.0"

    var backendName: String { "Ray" }
    var python: String { options.python }
    var pythonOptionName: String { "RayOptions.python" }
    var installCommand: String { "python3 -m pip install 'ray==\(Self.pinnedVersion)'" }
    var script: BridgeScript { BridgeScript(name: "ray_bridge.py", text: PackageResources.ray_bridge_py) }

    func arguments() throws -> [String] {
        [
            "--address", address, "--namespace", options.namespace ?? "",
            "--executable", try options.workerExecutable ?? currentExecutablePath(),
            "--check-executable", options.checksWorkerExecutable ? "1" : "0",
            "--connect-timeout", Self.seconds(options.connectTimeout),
            "--no-nodes-timeout", Self.seconds(options.noNodesTimeout),
            "--start-wait", Self.seconds(noNodesWait),
            "--num-cpus", String(options.numCPUs), "--resources", resourcesJSON,
            "--max-workers", String(options.maxWorkers ?? 0), "--runtime-env", options.runtimeEnvironment ?? "",
            "--pinned-version", Self.pinnedVersion,
        ]
    }

    /// The custom resources as a JSON object.
    var resourcesJSON: String {
        let entries = options.resources.sorted { $0.key < $1.key }.map { name, amount in
            let escaped = name.unicodeScalars.map { scalar -> String in
                switch scalar {
                case "\"": "\\\""
                case "\\": "\\\\"
                case _ where scalar.value < 0x20:
                    "\\u00" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
                default: String(scalar)
                }
            }.joined()
            return "\"\(escaped)\": \(amount)"
        }
        return "{" + entries.joined(separator: ", ") + "}"
    }

    /// Python's imports, the connection, the version check, room on a node, the actors.
    var startTimeout: Duration { options.connectTimeout + noNodesWait * 2 + .seconds(90) }

    func error(_ failure: BridgeFailure, _ message: String, taskIndex: Int?) -> any Error {
        let code: RayError.Code =
            switch failure {
            case .pythonUnavailable: .pythonUnavailable
            case .runtimeUnavailable: .rayUnavailable
            case .unreachable: .clusterUnreachable
            case .versionMismatch: .versionMismatch
            case .noWorkers: .noNodes
            case .taskLost: .taskLost
            case .clusterLost: .clusterLost
            default: .bridgeFailed
            }
        return RayError(code, message, taskIndex: taskIndex)
    }

    /// The actors of a bridge reserve their nodes' resources: an idle bridge for the same cluster
    /// (other options) gives them back before another starts.
    var capacityGroup: String? { "ray " + address }

    /// One submission per actor: a submission queued behind another at an actor would wait for
    /// it (no other actor can take it), and Ray's round trip (~1–3 ms) is small beside the
    /// batches the auto-batching sizes to ≥ 0.2 s.
    func inFlightLimit(_ bridge: Bridge) -> Int { max(1, bridge.clusterThreads) }

    /// Arrays of 1 MB or more (`.processes`' default `maxNBytes`) go through Ray's object store
    /// once per call (RayBridge.md, "Objects").
    var objectThreshold: Int? { 1 << 20 }
}

/// The pool of idle bridges (shared by every remote backend), under the name the tests use.
typealias BridgePool = JoblibBridge.BridgePool
