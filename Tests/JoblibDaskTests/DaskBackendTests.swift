import Foundation
import JoblibParallel
import JoblibProcesses
import JoblibSystem
import JoblibTestSupport
import Testing
@testable import JoblibDask

/// The Dask suites run one after the other: each has a cluster of its own, and the machine has
/// few cores.
@Suite(.serialized) enum DaskTests {}

extension DaskTests {
    /// Against a real scheduler and two workers on 127.0.0.1; one test at a time, because some kill
    /// workers. Every wait is bounded: the calls' own timeouts, and a time limit per test.
    @Suite(.daskCluster(workers: 2), .serialized, .timeLimit(.minutes(1)))
    struct DaskBackendTests {
        var cluster: DaskTestCluster { DaskTestCluster.current! }
        var dask: Backend { .dask(scheduler: cluster.scheduler, options: DaskOptions(noWorkersTimeout: .seconds(20))) }
        /// The checks shared with the other cluster backend.
        var checks: ClusterChecks { ClusterChecks(backend: dask) }

        @Test func resultsArriveInInputOrder() throws { try checks.resultsArriveInInputOrder() }
        @Test func asyncAndStreamingCalls() async throws { try await checks.asyncAndStreamingCalls() }
        @Test func codableErrorsArriveAsThemselvesOthersAsRemoteTaskError() throws {
            try checks.codableErrorsArriveAsThemselvesOthersAsRemoteTaskError()
        }
        @Test func aTaskThatTrapsItsSwiftWorkerFailsAlone() throws { try checks.aTaskThatTrapsItsSwiftWorkerFailsAlone() }

        /// The flake once seen after a rebuild: a call that failed fast left a Dask task running;
        /// the next call on the same (pooled) bridge reused its submission id, so it received the
        /// old task's late result (and Dask handed back the old future for the reused key).
        @Test func aFailedCallsLateResultsDoNotReachTheNextCall() throws {
            let parallel = Parallel(jobs: 2, backend: dask, batchSize: .fixed(1))
            for _ in 0..<3 {
                #expect(throws: ClusterModelError(reason: "step failed", index: 1)) {
                    try parallel.run([ClusterStep(index: 0, seconds: 0.3, fails: false), ClusterStep(index: 1, seconds: 0, fails: true)])
                }
                #expect(try parallel.run((0..<4).map { ConformanceSquare(value: $0) }) == [0, 1, 4, 9])
                #expect { try parallel.run([ClusterFaulty(index: 0, failure: .throwOpaque)]) } throws: { error in
                    (error as? RemoteTaskError)?.errorDescription == "opaque failure"
                }
            }
        }

        @Test func closuresAreRejected() { checks.closuresAreRejected() }
        @Test func timeoutKillsTheSwiftWorker() throws { try checks.timeoutKillsTheSwiftWorker() }
        @Test func largeArgumentsGoThroughScatter() throws { try checks.largeArgumentsArrive() }
        @Test func largeResultsComeBackInline() throws { try checks.largeResultsArrive() }

        @Test func killingOneDaskWorkerMidRunLosesNoResult() async throws {
            let cluster = self.cluster
            let parallel = Parallel(jobs: 2, backend: dask)
            let tasks = (0..<300).map { ConformanceNap(index: $0, seconds: 0.02) }
            async let results = parallel.run(tasks)
            try await Task.sleep(for: .seconds(1.5))
            cluster.killWorker(1)
            #expect(try await results == Array(0..<300))
            try cluster.startWorker(1)
        }

        @Test func jobsDoesNotBoundTheSubmissionsInFlight() throws {
            // Two per cluster thread (DaskSettings.inFlightLimit).
            try checks.jobsDoesNotBoundTheSubmissionsInFlight(limit: 4) {
                let pool = BridgePool.pool(for: DaskSettings(scheduler: cluster.scheduler, options: DaskOptions(noWorkersTimeout: .seconds(20))))
                let bridge = try pool.checkOut()
                defer { pool.checkIn(bridge) }
                return try #require(try bridge.statistics(timeout: .seconds(20)), "the Dask bridge did not answer `statistics`")
            }
        }

        /// A call with a timeout uses the bridge that calls without one started (one worker plugin,
        /// one Swift worker per Dask worker), and its timeout still bounds its wait for workers.
        @Test func aCallsTimeoutBoundsItsWaitForWorkersOnASharedBridge() async throws {
            let cluster = self.cluster
            BridgePool.shutDownAll()  // from here on, every Swift worker belongs to the bridge below
            _ = try await Parallel(jobs: 2, backend: dask).run([ConformanceSquare(value: 1)])
            _ = try await Parallel(jobs: 2, backend: dask, timeout: .seconds(3)).run([ConformanceSquare(value: 2)])
            #expect(swiftWorkers(cluster).count == 2, "one bridge per timeout: \(swiftWorkers(cluster))")
            try await expectNoWorkersOnceAllAreKilled(Parallel(jobs: 2, backend: dask, timeout: .seconds(3)))
        }

        @Test func allWorkersGoneIsAClearErrorWithinTheTimeout() async throws {
            let backend = Backend.dask(scheduler: cluster.scheduler, options: DaskOptions(noWorkersTimeout: .seconds(3)))
            _ = try await Parallel(jobs: 2, backend: backend).run([ConformanceSquare(value: 1)])  // the bridge is up
            try await expectNoWorkersOnceAllAreKilled(Parallel(jobs: 2, backend: backend))
        }

        /// Runs 200 tasks of 50 ms with `parallel` and kills both Dask workers after a second: the
        /// call fails with `noWorkers` within 10 s (its bridge's no-workers timeout or its own
        /// timeout, 3 s). The workers are started again.
        func expectNoWorkersOnceAllAreKilled(_ parallel: Parallel) async throws {
            let cluster = self.cluster
            let tasks = (0..<200).map { ConformanceNap(index: $0, seconds: 0.05) }
            async let results = parallel.run(tasks)
            try await Task.sleep(for: .seconds(1))
            cluster.killWorker(1)
            cluster.killWorker(2)
            let killed = ContinuousClock.now
            do {
                _ = try await results
                Issue.record("the call succeeded without workers")
            } catch let error as DaskError {
                #expect(error.code == .noWorkers, "\(error)")
                #expect(error.message.contains("no workers"))
            }
            #expect(ContinuousClock.now - killed < .seconds(10))
            try cluster.startWorker(1)
            try cluster.startWorker(2)
        }

        @Test func unreachableSchedulerFailsQuickly() throws {
            let start = ContinuousClock.now
            let backend = Backend.dask(scheduler: "tcp://127.0.0.1:1", options: DaskOptions(connectTimeout: .seconds(2)))
            #expect { try Parallel(jobs: 2, backend: backend).run([ConformanceSquare(value: 1)]) } throws: { error in
                (error as? DaskError)?.code == .schedulerUnreachable && "\(error)".contains("tcp://127.0.0.1:1")
            }
            #expect(ContinuousClock.now - start < .seconds(20))
        }

        @Test func missingPythonOrDaskSaysWhatToInstall() throws {
            let missing = Backend.dask(scheduler: cluster.scheduler, options: DaskOptions(python: "/nonexistent/python3"))
            #expect { try Parallel(jobs: 2, backend: missing).run([ConformanceSquare(value: 1)]) } throws: { error in
                (error as? DaskError)?.code == .pythonUnavailable && "\(error)".contains("pip install")
            }
            // A real Python without its site-packages: it cannot import distributed.
            try withTemporaryDirectory { directory in
                let wrapper = directory.appending("python-without-site").string
                let python = try #require(findExecutable("python3"))
                try "#!/bin/sh\nexec \(python) -S \"$@\"\n".write(toFile: wrapper, atomically: true, encoding: .utf8)
                try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: wrapper)
                let backend = Backend.dask(scheduler: cluster.scheduler, options: DaskOptions(python: wrapper))
                #expect { try Parallel(jobs: 2, backend: backend).run([ConformanceSquare(value: 1)]) } throws: { error in
                    (error as? DaskError)?.code == .distributedUnavailable && "\(error)".contains("pip install 'dask[distributed]==")
                }
            }
        }

        @Test func aBridgeLeavesNothingRunning() throws {
            _ = try Parallel(jobs: 2, backend: dask).run([ConformanceSquare(value: 2)])
            BridgePool.shutDownAll()
            let bridges = childCommandLines().filter { $0.contains("dask_bridge") }
            #expect(bridges.isEmpty, "left running: \(bridges)")
        }
    }

    /// A cluster of its own, because losing the scheduler ends its workers too.
    @Suite(.daskCluster(workers: 1), .timeLimit(.minutes(1)))
    struct DaskSchedulerLossTests {
        @Test func losingTheSchedulerMidRunIsAClearError() async throws {
            let cluster = try #require(DaskTestCluster.current)
            let backend = Backend.dask(scheduler: cluster.scheduler, options: DaskOptions(connectTimeout: .seconds(3)))
            _ = try await Parallel(jobs: 2, backend: backend).run([ConformanceSquare(value: 1)])  // the bridge is up
            async let results = Parallel(jobs: 2, backend: backend).run((0..<200).map { ConformanceNap(index: $0, seconds: 0.05) })
            try await Task.sleep(for: .seconds(1))
            cluster.killScheduler()
            let killed = ContinuousClock.now
            do {
                _ = try await results
                Issue.record("the call succeeded without a scheduler")
            } catch let error as DaskError {
                #expect(error.code == .schedulerLost, "\(error)")
            }
            #expect(ContinuousClock.now - killed < .seconds(15))
            // The broken bridge is not reused: the next call fails cleanly too, and quickly.
            #expect(throws: DaskError.self) { try Parallel(jobs: 2, backend: backend).run([ConformanceSquare(value: 2)]) }
        }
    }

}
