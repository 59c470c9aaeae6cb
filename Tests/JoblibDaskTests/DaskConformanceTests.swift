import Foundation
import JoblibParallel
import JoblibProcesses
import JoblibSystem
import Synchronization
import JoblibTestSupport
import Testing
@testable import JoblibDask

extension DaskTests.DaskBackendTests {
    /// The backend conformance suite (JoblibTestSupport) on `.dask`, with the cluster of the
    /// enclosing suite; then what only a remote worker can do: die in the middle of a batch, be
    /// retried, overrun.
    @Suite(.serialized) struct DaskConformanceTests {
        var cluster: DaskTestCluster { DaskTestCluster.current! }
        var dask: Backend { .dask(scheduler: cluster.scheduler, options: DaskOptions(noWorkersTimeout: .seconds(20))) }
        /// The checks shared with the other cluster backend.
        var checks: ClusterChecks { ClusterChecks(backend: dask) }

        @Test(arguments: ConformanceCase.all)
        func conforms(_ check: ConformanceCase) async throws {
            // A cluster call splits a batch's unsent tail for an idle cluster thread (and keeps
            // no submission queued behind a running one), so completion order holds.
            try await BackendConformance(backend: dask, capabilities: .cluster.union(.splitsBusyBatches)).run(check)
        }

        /// The crash matrix (JoblibTestSupport): every stage × kind × entry point.
        @Test(arguments: CrashCase.all(for: .cluster))
        func crashes(_ check: CrashCase) async throws {
            try await CrashMatrix(backend: dask, capabilities: .cluster).run(check)
        }

        @Test func aCancelKillsTheRunningSwiftWorkers() async throws { try await checks.aCancelKillsTheRunningSwiftWorkers() }

        /// The report has one worker per Swift worker that ran tasks (its host names it), not
        /// one for the thread driving the call: 2 one-thread Dask workers, 60 tasks of 20 ms.
        @Test func theReportHasOneWorkerPerSwiftWorker() throws {
            let reports = Mutex<[ParallelReport]>([])
            let tasks = (0..<60).map { ConformanceNap(index: $0, seconds: 0.02) }
            let parallel = Parallel(jobs: 2, backend: dask, report: { report in reports.withLock { $0.append(report) } })
            #expect(try parallel.run(tasks) == Array(0..<60))
            let report = try #require(reports.withLock { $0 }.first)
            #expect(report.workers.count == 2, "\(report)")
            #expect(report.workers.reduce(0) { $0 + $1.tasks } == 60, "\(report)")
            for worker in report.workers {
                #expect(worker.tasks > 0 && worker.batches > 0, "\(report)")
                #expect(worker.busy <= report.wall && worker.busy + worker.startUp <= report.wall, "\(report)")
                // The busy time is the host's measure of its submissions: at least its tasks' naps.
                #expect(worker.busy >= .milliseconds(20 * worker.tasks), "\(report)")
                #expect(worker.running <= worker.busy && worker.running >= .milliseconds(20 * worker.tasks), "\(report)")
                #expect(worker.coding > .zero && worker.coding <= worker.busy, "\(report)")
            }
        }

        /// A fast task does not wait behind a slow one in its submission: task 0 naps 1.5 s, tasks
        /// 1–9 2 ms each, on 2 one-thread Dask workers, in batches of 10 or 5. A batch goes out in
        /// slices, and once the input is exhausted the idle worker splits off the unsent tail of
        /// the slow task's batch: tasks 1–9 arrive well before task 0. (Sent whole, they waited.)
        @Test(arguments: [10, 5])
        func aSlowTaskHoldsNoFastOne(batchSize: Int) async throws {
            let tasks = [ConformanceNap(index: 0, seconds: 1.5)] + (1..<10).map { ConformanceNap(index: $0, seconds: 0.002) }
            let parallel = Parallel(jobs: 2, backend: dask, batchSize: .fixed(batchSize))
            _ = try await parallel.run(Array(tasks.suffix(2)))  // Swift workers started on both
            let start = ContinuousClock.now
            var arrivals: [(index: Int, at: Duration)] = []
            for try await (index, value) in parallel.stream(tasks, order: .completion) {
                #expect(value == index)
                arrivals.append((index, ContinuousClock.now - start))
            }
            let description = arrivals.map { "\($0.index)@\($0.at)" }
            #expect(arrivals.count == 10 && arrivals.last?.index == 0, "\(description)")
            #expect(arrivals.filter { $0.index != 0 }.allSatisfy { $0.at < .milliseconds(1_000) }, "\(description)")
        }

        // MARK: - A Swift worker that dies in the middle of a batch

        @Test func aCrashAfterFlushedResultsKeepsThem() throws { try checks.aCrashAfterFlushedResultsKeepsThem() }
        @Test func aCrashBeforeAFlushRerunsTheTasksBeforeIt() throws { try checks.aCrashBeforeAFlushRerunsTheTasksBeforeIt() }


        @Test func aCrashFailsTheCallFast() throws { try checks.aCrashFailsTheCallFast() }
        @Test func retriesRunACrashedTaskAgain() throws { try checks.retriesRunACrashedTaskAgain() }
        @Test func aTimeoutInTheMiddleOfABatchNamesThatTask() throws { try checks.aTimeoutInTheMiddleOfABatchNamesThatTask() }
    }
}

extension DaskTests {
    /// A scheduler without workers.
    @Suite(.daskCluster(workers: 0), .timeLimit(.minutes(1)))
    struct NoWorkersTests {
        /// The call's timeout bounds the wait for a first worker (the default wait is 30 s).
        @Test func theCallsTimeoutBoundsTheWaitForWorkers() async throws {
            let backend = Backend.dask(scheduler: DaskTestCluster.current!.scheduler)
            let start = ContinuousClock.now
            await #expect {
                try await Parallel(jobs: 2, backend: backend, timeout: .seconds(3)).run([ConformanceSquare(value: 2)])
            } throws: { error in
                (error as? DaskError)?.code == .noWorkers
            }
            #expect(ContinuousClock.now - start < .seconds(15), "took \(ContinuousClock.now - start)")
        }
    }
}
