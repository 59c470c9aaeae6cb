import Foundation
import JoblibParallel
import JoblibProcesses
import JoblibSystem
import Synchronization
import JoblibTestSupport
import Testing
@testable import JoblibRay

extension RayTests.RayBackendTests {
    /// The backend conformance suite (JoblibTestSupport) on `.ray`, with the cluster of the
    /// enclosing suite; then what only a remote worker can do: die in the middle of a batch, be
    /// retried, overrun.
    @Suite(.serialized) struct RayConformanceTests {
        var cluster: RayTestCluster { RayTestCluster.current! }
        var ray: Backend { .ray(address: cluster.address, options: RayOptions(noNodesTimeout: .seconds(20))) }
        /// The checks shared with the other cluster backend.
        var checks: ClusterChecks { ClusterChecks(backend: ray) }

        /// Held to strict completion order, as `.dask` is: the call splits a batch's unsent tail
        /// for an idle actor (`BridgeCall`, shared with `.dask`).
        @Test(arguments: ConformanceCase.all)
        func conforms(_ check: ConformanceCase) async throws {
            try await BackendConformance(backend: ray, capabilities: .cluster.union(.splitsBusyBatches)).run(check)
        }

        /// The crash matrix (JoblibTestSupport): every stage × kind × entry point.
        @Test(arguments: CrashCase.all(for: .cluster))
        func crashes(_ check: CrashCase) async throws {
            try await CrashMatrix(backend: ray, capabilities: .cluster).run(check)
        }

        @Test func aCancelKillsTheRunningSwiftWorkers() async throws { try await checks.aCancelKillsTheRunningSwiftWorkers() }

        // MARK: - A Swift worker that dies in the middle of a batch

        @Test func aCrashAfterFlushedResultsKeepsThem() throws { try checks.aCrashAfterFlushedResultsKeepsThem() }
        @Test func aCrashBeforeAFlushRerunsTheTasksBeforeIt() throws { try checks.aCrashBeforeAFlushRerunsTheTasksBeforeIt() }


        @Test func aCrashFailsTheCallFast() throws { try checks.aCrashFailsTheCallFast() }
        @Test func retriesRunACrashedTaskAgain() throws { try checks.retriesRunACrashedTaskAgain() }
        @Test func aTimeoutInTheMiddleOfABatchNamesThatTask() throws { try checks.aTimeoutInTheMiddleOfABatchNamesThatTask() }
    }
}

extension RayTests {
    /// A cluster of its own (a head only), because it is killed.
    @Suite(.rayCluster(nodes: 1), .timeLimit(.minutes(1)))
    struct RayClusterLossTests {
        @Test func losingTheClusterMidRunIsAClearError() async throws {
            let cluster = try #require(RayTestCluster.current)
            let backend = Backend.ray(address: cluster.address, options: RayOptions(connectTimeout: .seconds(3)))
            _ = try await Parallel(jobs: 2, backend: backend).run([ConformanceSquare(value: 1)])  // the bridge is up
            async let results = Parallel(jobs: 2, backend: backend).run((0..<200).map { ConformanceNap(index: $0, seconds: 0.05) })
            try await Task.sleep(for: .seconds(1))
            cluster.killNode("head")
            let killed = ContinuousClock.now
            do {
                _ = try await results
                Issue.record("the call succeeded without a cluster")
            } catch let error as RayError {
                #expect(error.code == .clusterLost, "\(error)")
            }
            #expect(ContinuousClock.now - killed < .seconds(15))
            // The broken bridge is not reused: the next call fails cleanly too, and quickly.
            let again = ContinuousClock.now
            #expect(throws: RayError.self) { try Parallel(jobs: 2, backend: backend).run([ConformanceSquare(value: 2)]) }
            #expect(ContinuousClock.now - again < .seconds(15))
        }
    }
}
