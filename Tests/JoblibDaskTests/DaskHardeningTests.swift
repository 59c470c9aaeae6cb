import Foundation
import JoblibParallel
import JoblibSystem
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
        async let results = Parallel(jobs: 2, backend: backend, batchSize: .fixed(1)).run((0..<40).map { Nap(index: $0, seconds: 0.5) })
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
        #expect(try await Parallel(jobs: 2, backend: backend).run([Square(value: 4)]) == [16])
    }
}

/// The Swift workers (this test executable, re-executed) under the cluster's Dask workers.
func swiftWorkers(_ cluster: DaskTestCluster) -> [Int32] {
    let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
    return cluster.workerPIDs.flatMap { liveChildren(of: $0) }.map(\.pid).filter {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\($0)/exe")) == me
    }
}

/// Polls `condition` every 50 ms for up to `seconds`; whether it became true.
func waitFor(seconds: Double, _ condition: () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return condition()
}
