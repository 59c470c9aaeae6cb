import Foundation
import JoblibSystem
import SystemPackage
import Synchronization
import Testing
@testable import JoblibDask

/// A real Dask scheduler and workers on 127.0.0.1 (HTTP servers too), started for the suite and
/// stopped by pid afterwards, also when a test fails. Workers run without a nanny, so killing one
/// removes it for good until ``startWorker(_:)``.
final class DaskTestCluster: Sendable {
    let directory: URL
    let scheduler: String
    private let python: String
    private let processes = Mutex<[String: ChildProcess]>([:])

    @TaskLocal static var current: DaskTestCluster?

    /// Pids of a previous run of this checkout that crashed before stopping its cluster: one file
    /// per checkout, so that test runs in two checkouts never kill each other's clusters.
    private static let leftovers = URL(fileURLWithPath: NSTemporaryDirectory())
        .appendingPathComponent("joblib-dask-tests-\(checkoutTag).pids")

    /// A short stable name for the checkout these tests were built from (FNV-1a of its path).
    static let checkoutTag: String = {
        var digest: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in #filePath.utf8 {
            digest = (digest ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        return String(digest, radix: 16)
    }()

    /// - Parameters:
    ///   - schedulerPython: another interpreter for the scheduler (the version-mismatch test).
    ///   - schedulerEnvironment: added to the scheduler's environment.
    static func start(
        workers: Int, schedulerPython: String? = nil, schedulerEnvironment: [String: String] = [:]
    ) throws -> DaskTestCluster {
        guard let python = findExecutable("python3") else { throw ClusterError("python3 is not on PATH; run scripts/setup.sh") }
        let check = Process()
        check.executableURL = URL(fileURLWithPath: python)
        check.arguments = ["-c", "import distributed"]
        check.standardError = FileHandle.nullDevice
        try check.run()
        check.waitUntilExit()
        guard check.terminationStatus == 0 else {
            throw ClusterError(
                "\(python) cannot import distributed: the Dask tests need it. Run scripts/setup.sh "
                    + "(or `python3 -m pip install 'dask[distributed]==2026.8.0'`)")
        }
        killLeftovers()
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("joblib-dask-\(getpid())")
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let schedulerFile = directory.appendingPathComponent("scheduler.json")
        let cluster = try DaskTestCluster(
            python: python, schedulerPython: schedulerPython ?? python, schedulerEnvironment: schedulerEnvironment,
            directory: directory, schedulerFile: schedulerFile)
        do {
            for index in 0..<workers { try cluster.startWorker(index + 1) }
        } catch {
            cluster.stop()
            throw error
        }
        return cluster
    }

    private init(
        python: String, schedulerPython: String, schedulerEnvironment: [String: String], directory: URL, schedulerFile: URL
    ) throws {
        self.python = python
        self.directory = directory
        let process = try Self.spawn(
            schedulerPython,
            ["-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--dashboard-address", "127.0.0.1:0", "--scheduler-file", schedulerFile.path],
            log: directory.appendingPathComponent("scheduler.log"), environment: schedulerEnvironment)
        processes.withLock { $0["scheduler"] = process }
        Self.recordLeftover(process.pid)
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
        let process = try Self.spawn(
            python,
            ["-m", "distributed.cli.dask_worker", scheduler, "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny",
             "--no-dashboard", "--dashboard-address", "127.0.0.1:0", "--name", "w\(index)",
             "--local-directory", directory.appendingPathComponent("w\(index)").path],
            log: log)
        processes.withLock { $0["w\(index)"] = process }
        Self.recordLeftover(process.pid)
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let text = try? String(contentsOf: log, encoding: .utf8), text.contains("Registered to:") { return }
            if let status = process.poll() {
                throw ClusterError("Dask worker w\(index) ended (\(status)); see \(log.path)")
            }
            usleep(50_000)
        }
        throw ClusterError("Dask worker w\(index) did not register within 60 s; see \(log.path)")
    }

    /// SIGKILLs the scheduler (its workers then shut themselves down).
    func killScheduler() {
        guard let process = processes.withLock({ $0.removeValue(forKey: "scheduler") }) else { return }
        process.kill(SIGKILL)
        _ = process.wait()
    }

    /// SIGKILLs worker `index` (as a host loss would) and reaps it.
    func killWorker(_ index: Int) {
        guard let process = processes.withLock({ $0.removeValue(forKey: "w\(index)") }) else { return }
        process.kill(SIGKILL)
        _ = process.wait()
    }

    /// Workers first (stopping the scheduler first sends them through a slow error path), then
    /// the scheduler; SIGTERM, then SIGKILL after a grace period.
    func stop() {
        let all = processes.withLock { processes -> [String: ChildProcess] in
            defer { processes.removeAll() }
            return processes
        }
        let workers = all.filter { $0.key != "scheduler" }.map(\.value)
        for worker in workers { worker.kill(SIGTERM) }
        for worker in workers where worker.wait(timeout: .seconds(5)) == nil {
            worker.kill(SIGKILL)
            _ = worker.wait()
        }
        if let scheduler = all["scheduler"] { _ = scheduler.terminate(grace: .seconds(5)) }
        try? FileManager.default.removeItem(at: Self.leftovers)
        try? FileManager.default.removeItem(at: directory)
    }

    /// Pids of the running Dask workers.
    var workerPIDs: [Int32] {
        processes.withLock { $0.filter { $0.key != "scheduler" }.map(\.value.pid) }
    }

    private static func spawn(
        _ python: String, _ arguments: [String], log: URL, environment extra: [String: String] = [:]
    ) throws -> ChildProcess {
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        defer { try? handle.close() }
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONUNBUFFERED"] = "1"
        environment.merge(extra) { $1 }
        return try ChildProcess.spawn(
            executable: python, arguments: arguments, environment: environment,
            standardError: FileDescriptor(rawValue: handle.fileDescriptor))
    }

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

    /// Kills Dask processes recorded by a run that died before its teardown.
    private static func killLeftovers() {
        guard let text = try? String(contentsOf: leftovers, encoding: .utf8) else { return }
        for pid in text.split(separator: "\n").compactMap({ Int32($0) }) {
            let commandLine = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
            if commandLine.contains("distributed.cli.dask_") { kill(pid, SIGKILL) }
        }
        try? FileManager.default.removeItem(at: leftovers)
    }
}

struct ClusterError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
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
