import Foundation
import JoblibSystem
import JoblibTestSupport
import Testing
@testable import JoblibDask

/// A real Dask scheduler and workers on 127.0.0.1 (HTTP servers too), started for the suite and
/// stopped by pid afterwards, also when a test fails. Workers run without a nanny, so killing one
/// removes it for good until ``startWorker(_:)``.
final class DaskTestCluster: Sendable {
    let directory: URL
    let scheduler: String
    private let python: String
    private let processes: LoopbackClusterProcesses

    @TaskLocal static var current: DaskTestCluster?

    /// - Parameters:
    ///   - schedulerPython: another interpreter for the scheduler (the version-mismatch test).
    ///   - schedulerEnvironment: added to the scheduler's environment.
    static func start(
        workers: Int, schedulerPython: String? = nil, schedulerEnvironment: [String: String] = [:]
    ) throws -> DaskTestCluster {
        guard let python = findExecutable("python3") else { throw ClusterError("python3 is not on PATH; run scripts/setup.sh") }
        guard commandOutput(python, ["-c", "import distributed"]) != nil else {
            throw ClusterError(
                "\(python) cannot import distributed: the Dask tests need it. Run scripts/setup.sh "
                    + "(or `python3 -m pip install 'dask[distributed]==2026.8.0'`)")
        }
        let processes = LoopbackClusterProcesses(kind: "dask", processGroups: false, recognisedBy: ["distributed.cli.dask_"])
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("joblib-dask-\(getpid())")
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let schedulerFile = directory.appendingPathComponent("scheduler.json")
        let cluster = try DaskTestCluster(
            python: python, schedulerPython: schedulerPython ?? python, schedulerEnvironment: schedulerEnvironment,
            directory: directory, schedulerFile: schedulerFile, processes: processes)
        do {
            for index in 0..<workers { try cluster.startWorker(index + 1) }
        } catch {
            cluster.stop()
            throw error
        }
        return cluster
    }

    private init(
        python: String, schedulerPython: String, schedulerEnvironment: [String: String], directory: URL, schedulerFile: URL,
        processes: LoopbackClusterProcesses
    ) throws {
        self.python = python
        self.directory = directory
        self.processes = processes
        _ = try Self.start(
            "scheduler", schedulerPython,
            ["-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--dashboard-address", "127.0.0.1:0", "--scheduler-file", schedulerFile.path],
            in: processes, log: directory.appendingPathComponent("scheduler.log"), environment: schedulerEnvironment)
        var address: String?
        let deadline = ContinuousClock.now + .seconds(60)
        while address == nil && ContinuousClock.now < deadline {
            if let data = try? Data(contentsOf: schedulerFile),
               let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
                address = object["address"] as? String
            }
            if address == nil { usleep(50_000) }
        }
        scheduler = address ?? ""
        if address == nil {
            stop()
            throw ClusterError("the Dask scheduler did not start within 60 s; see \(directory.path)/scheduler.log")
        }
    }

    /// Starts worker `index` (`w<index>`, one thread) and waits until the scheduler registered it.
    func startWorker(_ index: Int) throws {
        let log = directory.appendingPathComponent("worker\(index)-\(UUID().uuidString.prefix(8)).log")
        let process = try Self.start(
            "w\(index)", python,
            ["-m", "distributed.cli.dask_worker", scheduler, "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny",
             "--no-dashboard", "--dashboard-address", "127.0.0.1:0", "--name", "w\(index)",
             "--local-directory", directory.appendingPathComponent("w\(index)").path],
            in: processes, log: log)
        try LoopbackClusterProcesses.wait(
            for: process, what: "Dask worker w\(index)", ready: "register", log: log, containing: "Registered to:")
    }

    /// SIGKILLs the scheduler (its workers then shut themselves down).
    func killScheduler() { processes.kill("scheduler") }

    /// SIGKILLs worker `index` (as a host loss would) and reaps it.
    func killWorker(_ index: Int) { processes.kill("w\(index)") }

    /// Workers first (stopping the scheduler first sends them through a slow error path), then
    /// the scheduler; SIGTERM, then SIGKILL after a grace period.
    func stop() { processes.stop(last: "scheduler", grace: .seconds(5), removing: directory) }

    /// Pids of the running Dask workers.
    var workerPIDs: [Int32] { processes.pids.filter { $0.key != "scheduler" }.map(\.value) }

    private static func start(
        _ name: String, _ python: String, _ arguments: [String], in processes: LoopbackClusterProcesses, log: URL,
        environment extra: [String: String] = [:]
    ) throws -> ChildProcess {
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONUNBUFFERED"] = "1"
        environment.merge(extra) { $1 }
        return try processes.start(name, executable: python, arguments: arguments, environment: environment, log: log)
    }
}

/// Runs a suite with a cluster that is stopped afterwards, whatever happened.
struct DaskClusterTrait: SuiteTrait, TestScoping {
    var workers: Int

    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        let cluster = try DaskTestCluster.start(workers: workers)
        defer { cluster.stop() }
        try await DaskTestCluster.$current.withValue(cluster) {
            defer { BridgePool.shutDownAll() }
            try await function()
        }
    }
}

extension Trait where Self == DaskClusterTrait {
    /// A real Dask cluster on 127.0.0.1 for the suite.
    static func daskCluster(workers: Int) -> Self { DaskClusterTrait(workers: workers) }
}
