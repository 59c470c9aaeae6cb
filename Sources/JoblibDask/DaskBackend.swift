import JoblibBridge
import JoblibParallel
import JoblibProcesses
import JoblibSystem
import JoblibTypes

extension Backend {
    /// An existing Dask cluster: the scheduler at `scheduler` (`"tcp://host:8786"`) schedules the
    /// call's tasks on its workers, retries work lost with a worker and scales.
    ///
    /// This program starts a small Python bridge (Python with `dask[distributed]` must be
    /// installed here and on the workers, same versions); each Dask worker runs long-lived copies
    /// of this same executable in worker mode, which must therefore exist at the same path on
    /// every worker host (see `RunningOnDask.md`). Tasks travel as the same bytes as with
    /// ``/JoblibProcesses/JoblibParallel/Backend/processes``, packed by the auto-batching into Dask tasks of at least ~0.1 s.
    ///
    /// Only ``/JoblibParallel/ParallelTask`` values run here; declare task types at file scope. A task whose
    /// Dask worker dies is run again elsewhere (at-least-once: side effects may repeat); a task
    /// that crashes its Swift worker fails alone with ``/JoblibParallel/ParallelError/Code/workerDied``; the
    /// call's `timeout` kills the Swift worker running an overrunning task. The cluster's size, not
    /// `jobs`, sets how many tasks run at once (as with joblib's Dask backend).
    public static func dask(scheduler: String) -> Backend { dask(scheduler: scheduler, options: DaskOptions()) }

    /// A Dask cluster with explicit options.
    public static func dask(scheduler: String, options: DaskOptions) -> Backend {
        .bridged(name: "dask", settings: DaskSettings(scheduler: scheduler, options: options))
    }
}

/// How the Dask backend reaches its cluster and when it gives up.
public struct DaskOptions: Hashable, Sendable {
    /// The Python interpreter that runs the bridge: a path, or a name looked up in `PATH`.
    public var python: String
    /// How long connecting to the scheduler may take before the call fails with
    /// ``DaskError/Code/schedulerUnreachable``.
    public var connectTimeout: Duration
    /// How long the cluster may have no workers while tasks wait, before they fail with
    /// ``DaskError/Code/noWorkers`` (also at start: how long to wait for a first worker). A
    /// call's `timeout`, when shorter, takes its place.
    public var noWorkersTimeout: Duration
    /// The executable the Dask workers start: nil for this program's own path, which must then be
    /// the same on every worker host.
    public var workerExecutable: String?
    /// Whether each worker checks that its executable is byte for byte the driver's (SHA-256),
    /// so that a stale build on one host is a clear error instead of wrong answers.
    public var checksWorkerExecutable: Bool
    /// Dask tasks (batches) larger than this go to the workers through `scatter` instead of
    /// inside the task graph.
    public var scatterThreshold: ByteCount

    /// Options; every default suits a cluster on a local network.
    public init(
        python: String = "python3", connectTimeout: Duration = .seconds(10), noWorkersTimeout: Duration = .seconds(30),
        workerExecutable: String? = nil, checksWorkerExecutable: Bool = true, scatterThreshold: ByteCount = .megabytes(1)
    ) {
        self.python = python
        self.connectTimeout = connectTimeout
        self.noWorkersTimeout = noWorkersTimeout
        self.workerExecutable = workerExecutable
        self.checksWorkerExecutable = checksWorkerExecutable
        self.scatterThreshold = scatterThreshold
    }
}

/// What makes two calls' bridges interchangeable, and everything Dask-specific the shared bridge
/// machinery (JoblibBridge) needs.
struct DaskSettings: BridgeSettings {
    var scheduler: String
    var options: DaskOptions
    /// A call's timeout, when shorter than ``DaskOptions/noWorkersTimeout``: how long a bridge
    /// that this call starts waits for a first worker. Not part of the bridge's identity: a
    /// bridge per timeout would install its own worker plugin, with its own idle Swift workers
    /// on every Dask worker, and start anew (seconds) whenever calls alternate timeouts. During
    /// a call, each submission's own timeout bounds its wait for workers (`dask_bridge.py`).
    var startWait: Duration?

    init(scheduler: String, options: DaskOptions, startWait: Duration? = nil) {
        self.scheduler = scheduler
        self.options = options
        self.startWait = startWait
    }

    static func == (lhs: DaskSettings, rhs: DaskSettings) -> Bool {
        lhs.scheduler == rhs.scheduler && lhs.options == rhs.options
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(scheduler)
        hasher.combine(options)
    }

    private var noWorkersWait: Duration { min(startWait ?? options.noWorkersTimeout, options.noWorkersTimeout) }

    /// The dask/distributed version the package is tested with (`scripts/setup.sh` installs it).
    static let pinnedVersion = "2026.8.0"

    var backendName: String { "Dask" }
    var python: String { options.python }
    var pythonOptionName: String { "DaskOptions.python" }
    var installCommand: String { "python3 -m pip install 'dask[distributed]==\(Self.pinnedVersion)'" }
    var script: BridgeScript { BridgeScript(name: "dask_bridge.py", text: PackageResources.dask_bridge_py) }

    func arguments() throws -> [String] {
        [
            "--scheduler", scheduler, "--executable", try options.workerExecutable ?? currentExecutablePath(),
            "--check-executable", options.checksWorkerExecutable ? "1" : "0",
            "--connect-timeout", Self.seconds(options.connectTimeout),
            "--no-workers-timeout", Self.seconds(options.noWorkersTimeout),
            "--start-wait", Self.seconds(noWorkersWait),
            "--scatter-threshold", String(options.scatterThreshold.bytes),
            "--pinned-version", Self.pinnedVersion,
        ]
    }

    /// Python's imports, the connection, the version check, the first worker, the plugin.
    var startTimeout: Duration { options.connectTimeout + noWorkersWait + .seconds(60) }

    func error(_ failure: BridgeFailure, _ message: String, taskIndex: Int?) -> any Error {
        let code: DaskError.Code =
            switch failure {
            case .pythonUnavailable: .pythonUnavailable
            case .runtimeUnavailable: .distributedUnavailable
            case .unreachable: .schedulerUnreachable
            case .versionMismatch: .versionMismatch
            case .noWorkers: .noWorkers
            case .taskLost: .taskLost
            case .clusterLost: .schedulerLost
            default: .bridgeFailed
            }
        return DaskError(code, message, taskIndex: taskIndex)
    }

    /// One task running and one queued per worker thread hides Dask's round trip (~10 ms).
    func inFlightLimit(_ bridge: Bridge) -> Int { max(2, 2 * bridge.clusterThreads) }
}

/// The pool of idle bridges (shared by every remote backend), under the name the tests use.
typealias BridgePool = JoblibBridge.BridgePool
