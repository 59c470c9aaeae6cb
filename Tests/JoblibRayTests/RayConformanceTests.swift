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

        @Test(arguments: ConformanceCase.all)
        func conforms(_ check: ConformanceCase) async throws {
            try await BackendConformance(backend: ray, capabilities: .cluster).run(check)
        }

        /// The crash matrix (JoblibTestSupport): every stage × kind × entry point.
        @Test(arguments: CrashCase.all(for: .cluster))
        func crashes(_ check: CrashCase) async throws {
            try await CrashMatrix(backend: ray, capabilities: .cluster).run(check)
        }

        /// Cancelling the caller cancels the submissions in flight and the actors kill the Swift
        /// workers running them: the tasks after the running ones never start (each takes 1 s;
        /// 3.5 s after the cancel, running on would have started all 8).
        @Test func aCancelKillsTheRunningSwiftWorkers() async throws {
            let directory = NSTemporaryDirectory() + "joblib-ray-cancel-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let tasks = (0..<8).map { ConformanceMarked(directory: directory, index: $0, seconds: 1) }
            let parallel = Parallel(jobs: 2, backend: ray, batchSize: .fixed(4))
            let call = Task { try await parallel.run(tasks) }
            try await Task.sleep(for: .milliseconds(500))
            call.cancel()
            await #expect(throws: CancellationError.self) { try await call.value }
            try await Task.sleep(for: .milliseconds(3_500))
            let started = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            #expect(started.count <= 4, "started: \(started.sorted())")
        }

        // MARK: - A Swift worker that dies in the middle of a batch

        /// Tasks 0–2 of the batch finished and their results were sent (each takes 30 ms, over the
        /// 20 ms flush interval) before task 3 trapped: they come back as sent, task 3 alone
        /// fails, and 4–5 run once on a fresh Swift worker.
        @Test func aCrashAfterFlushedResultsKeepsThem() throws {
            try withTemporaryDirectory { directory in
                let tasks = (0..<6).map { Counted(directory: directory.string, index: $0, seconds: 0.03, traps: $0 == 3) }
                let outcomes = Parallel(jobs: 1, backend: ray, batchSize: .fixed(6)).results(tasks)
                try expectCulpritAlone(outcomes, culprit: 3)
                for index in [0, 1, 2, 4, 5] {
                    #expect(Counted.runs(directory.string, index) == 1, "task \(index) ran \(Counted.runs(directory.string, index)) times")
                }
                #expect(Counted.runs(directory.string, 3) == 1)  // no retries asked for
            }
        }

        /// Tasks 0–2 finished too quickly for a flush when task 3 trapped: their results died
        /// with the worker, the status words named task 3, and 0–2 run again with correct results.
        @Test func aCrashBeforeAFlushRerunsTheTasksBeforeIt() throws {
            try withTemporaryDirectory { directory in
                let tasks = (0..<6).map { Counted(directory: directory.string, index: $0, seconds: 0, traps: $0 == 3) }
                let outcomes = Parallel(jobs: 1, backend: ray, batchSize: .fixed(6)).results(tasks)
                try expectCulpritAlone(outcomes, culprit: 3)
                for index in [0, 1, 2] {
                    // Twice, unless the machine stalled past the flush interval before the trap.
                    #expect((1...2).contains(Counted.runs(directory.string, index)))
                }
                #expect(Counted.runs(directory.string, 3) == 1 && Counted.runs(directory.string, 4) == 1)
            }
        }

        private func expectCulpritAlone(_ outcomes: [Result<Int, any Error>], culprit: Int) throws {
            for (index, outcome) in outcomes.enumerated() where index != culprit {
                #expect((try? outcome.get()) == index * 10, "task \(index): \(outcome)")
            }
            guard case .failure(let error as ParallelError) = outcomes[culprit] else {
                Issue.record("task \(culprit) did not fail with ParallelError: \(outcomes[culprit])")
                return
            }
            #expect(error.code == .workerDied && error.taskIndex == culprit, "\(error)")
            #expect(error.stderrTail?.contains("task \(culprit) trapped") == true, "tail: \(error.stderrTail ?? "nil")")
        }

        /// `run` (fail fast): the crash is the call's error, and the tasks after it in the batch
        /// are not run: neither those after it in its submission nor those of the tail another
        /// Swift worker split off (it is killed while it runs task 3, 2 s; the crash's report
        /// takes a Swift worker up to a second or two). As on Dask.
        @Test func aCrashFailsTheCallFast() throws {
            try withTemporaryDirectory { directory in
                let tasks = (0..<6).map { Counted(directory: directory.string, index: $0, seconds: $0 == 0 ? 0 : 2, traps: $0 == 0) }
                #expect { try Parallel(jobs: 1, backend: ray, batchSize: .fixed(6)).run(tasks) } throws: { error in
                    (error as? ParallelError)?.code == .workerDied && (error as? ParallelError)?.taskIndex == 0
                }
                // Had it not been killed, the other Swift worker would have started task 4 by now.
                Thread.sleep(forTimeInterval: 1.5)
                for index in [1, 2, 4, 5] { #expect(Counted.runs(directory.string, index) == 0, "task \(index) ran") }
            }
        }

        @Test func retriesRunACrashedTaskAgain() throws {
            try withTemporaryDirectory { directory in
                let marker = directory.appending("crashed-once").string
                let outcome = try Parallel(jobs: 1, backend: ray, retries: 1).run([CrashOnce(marker: marker)])
                #expect(outcome == ["second try"])
                let again = directory.appending("crashed-again").string
                #expect { try Parallel(jobs: 2, backend: ray, retries: 0).run([CrashOnce(marker: again)]) } throws: { error in
                    (error as? ParallelError)?.code == .workerDied && (error as? ParallelError)?.taskIndex == 0
                }
            }
        }

        /// The overrunning task is the one named, in the middle of a batch; the tasks before it
        /// keep their results, and the Swift worker is replaced for the next call.
        @Test func aTimeoutInTheMiddleOfABatchNamesThatTask() throws {
            let tasks = [Nap(index: 0, seconds: 0.05), Nap(index: 1, seconds: 0.05), Nap(index: 2, seconds: 30), Nap(index: 3, seconds: 0)]
            let start = ContinuousClock.now
            let outcomes = Parallel(jobs: 1, backend: ray, batchSize: .fixed(4), timeout: .milliseconds(500)).results(tasks)
            #expect(ContinuousClock.now - start < .seconds(10))
            #expect((try? outcomes[0].get()) == 0 && (try? outcomes[1].get()) == 1 && (try? outcomes[3].get()) == 3)
            guard case .failure(let error as ParallelError) = outcomes[2] else {
                Issue.record("task 2 did not time out: \(outcomes[2])")
                return
            }
            #expect(error.code == .timeout && error.taskIndex == 2, "\(error)")
            #expect(try Parallel(jobs: 2, backend: ray).run([Square(value: 3)]) == [9])
        }
    }
}

extension RayTests {
    /// A cluster of its own (a head only), because it is killed.
    @Suite(.rayCluster(nodes: 1), .timeLimit(.minutes(1)))
    struct RayClusterLossTests {
        @Test func losingTheClusterMidRunIsAClearError() async throws {
            let cluster = try #require(RayTestCluster.current)
            let backend = Backend.ray(address: cluster.address, options: RayOptions(connectTimeout: .seconds(3)))
            _ = try await Parallel(jobs: 2, backend: backend).run([Square(value: 1)])  // the bridge is up
            async let results = Parallel(jobs: 2, backend: backend).run((0..<200).map { Nap(index: $0, seconds: 0.05) })
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
            #expect(throws: RayError.self) { try Parallel(jobs: 2, backend: backend).run([Square(value: 2)]) }
            #expect(ContinuousClock.now - again < .seconds(15))
        }
    }
}
