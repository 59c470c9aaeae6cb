import JoblibParallel
import JoblibProcesses
import JoblibSystem

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
    /// call's `timeout` kills the Swift worker running an overrunning task.
    public static func dask(scheduler: String) -> Backend { dask(scheduler: scheduler, options: DaskOptions()) }

    /// A Dask cluster with explicit options.
    public static func dask(scheduler: String, options: DaskOptions) -> Backend {
        let settings = DaskSettings(scheduler: scheduler, options: options)
        return Backend(name: "dask") { DaskBackend(settings: settings) }
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

/// What makes two calls' bridges interchangeable.
struct DaskSettings: Hashable, Sendable {
    var scheduler: String
    var options: DaskOptions
}

/// Runs a call on a bridge taken from the pool for its settings; a thread of its own feeds the
/// bridge batches and hands their results back (``DaskCall``).
struct DaskBackend: ParallelBackend {
    let settings: DaskSettings

    func start(_ job: ParallelJob, workers: Int) throws {
        guard let remote = job.remoteTasks else {
            throw ParallelError(
                .unsupportedTask,
                "closures cannot run on a Dask cluster; pass ParallelTask values to run(_:), results(_:) or "
                    + "stream(_:order:), or use the .threads backend")
        }
        // Checked before anything starts: a type other processes cannot find by name.
        let typeName = try TaskTypeName.name(of: remote.taskType)
        // The call's timeout also bounds the wait for workers (at start and during the call).
        var settings = self.settings
        if let timeout = job.taskTimeout, timeout < settings.options.noWorkersTimeout {
            settings.options.noWorkersTimeout = timeout
        }
        let call = DaskCall(job: job, remote: remote, typeName: typeName, pool: BridgePool.pool(for: settings))
        do {
            try startDetachedThread(name: "joblib-dask") { call.run() }
        } catch {
            throw ParallelError(.workerUnavailable, "could not start the thread that drives the Dask call", underlying: error)
        }
    }
}
