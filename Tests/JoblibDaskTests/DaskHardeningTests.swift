import Foundation
import JoblibParallel
import JoblibSystem
import JoblibTestSupport
import Testing
@testable import JoblibDask

extension DaskTests.DaskBackendTests {
    /// A bridge killed with SIGKILL cannot remove its plugin: the scheduler-side guard sees its
    /// client go and removes it, which stops the Swift workers, busy or idle, and keeps workers
    /// that join later from starting any.
    @Test func aKilledBridgeLeavesNoSwiftWorkerBehind() async throws {
        let cluster = self.cluster
        BridgePool.shutDownAll()  // from here on, every Swift worker belongs to the bridge below
        #expect(try await waitFor(seconds: 5) { swiftWorkers(cluster).isEmpty }, "left by closed bridges: \(swiftWorkers(cluster))")
        let backend = Backend.dask(scheduler: cluster.scheduler, options: DaskOptions(noWorkersTimeout: .seconds(19)))
        async let results = Parallel(jobs: 2, backend: backend, batchSize: .fixed(1)).run((0..<40).map { ConformanceNap(index: $0, seconds: 0.5) })
        #expect(try await waitFor(seconds: 20) { swiftWorkers(cluster).count >= 2 })
        let bridges = liveChildren(of: getpid()).filter { $0.commandLine.contains("dask_bridge") }
        try #require(bridges.count == 1, "bridges: \(bridges)")
        kill(bridges[0].pid, SIGKILL)
        do {
            _ = try await results
            Issue.record("the call succeeded without its bridge")
        } catch let error as DaskError {
            #expect(error.code == .bridgeFailed, "\(error)")
        }
        #expect(try await waitFor(seconds: 5) { swiftWorkers(cluster).isEmpty }, "still running: \(swiftWorkers(cluster))")
        // The plugin is gone from the scheduler too: a worker that joins now starts no Swift worker.
        try cluster.startWorker(3)
        try await Task.sleep(for: .seconds(1))
        #expect(swiftWorkers(cluster).isEmpty, "started on the new worker: \(swiftWorkers(cluster))")
        cluster.killWorker(3)
        // And the backend starts a new bridge for the next call.
        #expect(try await Parallel(jobs: 2, backend: backend).run([ConformanceSquare(value: 4)]) == [16])
    }
}

extension DaskTests {
    /// A scheduler on another Python (major.minor) than this program's bridge: a real mismatch,
    /// with the same Dask files, run by a second interpreter found on this machine.
    @Suite(.timeLimit(.minutes(1)))
    struct DaskVersionTests {
        @Test(.enabled(if: OtherPython.found != nil, "needs a second Python (another major.minor) that can import this one's dask"))
        func aSchedulerOnAnotherPythonIsAVersionMismatch() throws {
            let other = try #require(OtherPython.found)
            let cluster = try DaskTestCluster.start(
                workers: 0, schedulerPython: other.path, schedulerEnvironment: ["PYTHONPATH": other.sitePackages])
            defer { cluster.stop() }
            let start = ContinuousClock.now
            let backend = Backend.dask(scheduler: cluster.scheduler, options: DaskOptions(noWorkersTimeout: .seconds(5)))
            #expect { try Parallel(jobs: 2, backend: backend).run([ConformanceSquare(value: 1)]) } throws: { error in
                guard let error = error as? DaskError, error.code == .versionMismatch else { return false }
                return error.message.contains("python: client \(other.mine), scheduler \(other.version)")
            }
            #expect(ContinuousClock.now - start < .seconds(20))
        }
    }
}

/// Another Python on this machine, of a different major.minor, that can run this Python's dask
/// (its site-packages on PYTHONPATH), for a real version mismatch. pyenv's versions qualify; a
/// machine with a single Python has none.
struct OtherPython: Sendable {
    var path: String
    var version: String
    var mine: String
    var sitePackages: String

    static let found: OtherPython? = {
        guard let python = findExecutable("python3"),
              let info = commandOutput(python, ["-c", "import sys, os, distributed; print('%d.%d' % sys.version_info[:2]); print(os.path.dirname(os.path.dirname(distributed.__file__)))"])
        else { return nil }
        let lines = info.split(separator: "\n").map(String.init)
        guard lines.count == 2 else { return nil }
        let (mine, sitePackages) = (lines[0], lines[1])
        let path = ["PYTHONPATH": sitePackages]
        var candidates: [String] = []
        let pyenv = environmentValue("PYENV_ROOT") ?? (environmentValue("HOME") ?? "/root") + "/.pyenv"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: pyenv + "/versions")) ?? []).sorted().reversed()
        candidates += versions.map { "\(pyenv)/versions/\($0)/bin/python3" }
        candidates += (8...14).reversed().flatMap { ["/usr/bin/python3.\($0)", "/usr/local/bin/python3.\($0)"] }
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
            guard let version = commandOutput(candidate, ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"], environment: path)?
                .trimmingCharacters(in: .whitespacesAndNewlines),
                version != mine, version.hasPrefix("3."),
                commandOutput(candidate, ["-c", "import distributed.cli.dask_scheduler"], environment: path) != nil
            else { continue }
            return OtherPython(path: candidate, version: version, mine: mine, sitePackages: sitePackages)
        }
        return nil
    }()
}

/// The Swift workers (this test executable, re-executed) under the cluster's Dask workers.
func swiftWorkers(_ cluster: DaskTestCluster) -> [Int32] {
    cluster.workerPIDs.flatMap { liveChildren(of: $0) }.map(\.pid).filter(runsThisExecutable)
}
