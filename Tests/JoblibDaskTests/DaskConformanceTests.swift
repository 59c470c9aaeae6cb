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

        /// Cancelling the caller cancels the submissions in flight and kills the Swift workers
        /// running them: the tasks after the running ones never start (each takes 1 s; 3.5 s
        /// after the cancel, running on would have started all 8).
        @Test func aCancelKillsTheRunningSwiftWorkers() async throws {
            let directory = NSTemporaryDirectory() + "joblib-dask-cancel-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let tasks = (0..<8).map { ConformanceMarked(directory: directory, index: $0, seconds: 1) }
            let parallel = Parallel(jobs: 2, backend: dask, batchSize: .fixed(4))
            let call = Task { try await parallel.run(tasks) }
            try await Task.sleep(for: .milliseconds(500))
            call.cancel()
            await #expect(throws: CancellationError.self) { try await call.value }
            try await Task.sleep(for: .milliseconds(3_500))
            let started = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            #expect(started.count <= 4, "started: \(started.sorted())")
        }

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

        /// Tasks 0–2 of the batch finished and their results were sent (each takes 30 ms, over the
        /// 20 ms flush interval) before task 3 trapped: they come back as sent, task 3 alone
        /// fails, and 4–5 run once on a fresh Swift worker.
        @Test func aCrashAfterFlushedResultsKeepsThem() throws {
            try withTemporaryDirectory { directory in
                let tasks = (0..<6).map { Counted(directory: directory.string, index: $0, seconds: 0.03, traps: $0 == 3) }
                let outcomes = Parallel(jobs: 1, backend: dask, batchSize: .fixed(6)).results(tasks)
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
                let outcomes = Parallel(jobs: 1, backend: dask, batchSize: .fixed(6)).results(tasks)
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
        /// are not run: neither those after it in its submission nor those of the tail the other
        /// Dask worker split off (its Swift worker is killed while it runs task 3, 2 s; the
        /// crash's report takes a Swift worker up to a second or two).
        @Test func aCrashFailsTheCallFast() throws {
            try withTemporaryDirectory { directory in
                let tasks = (0..<6).map { Counted(directory: directory.string, index: $0, seconds: $0 == 0 ? 0 : 2, traps: $0 == 0) }
                #expect { try Parallel(jobs: 1, backend: dask, batchSize: .fixed(6)).run(tasks) } throws: { error in
                    (error as? ParallelError)?.code == .workerDied && (error as? ParallelError)?.taskIndex == 0
                }
                // Had it not been killed, the other worker would have started task 4 by now.
                Thread.sleep(forTimeInterval: 1.5)
                for index in [1, 2, 4, 5] { #expect(Counted.runs(directory.string, index) == 0, "task \(index) ran") }
            }
        }

        @Test func retriesRunACrashedTaskAgain() throws {
            try withTemporaryDirectory { directory in
                let marker = directory.appending("crashed-once").string
                let outcome = try Parallel(jobs: 1, backend: dask, retries: 1).run([CrashOnce(marker: marker)])
                #expect(outcome == ["second try"])
                let again = directory.appending("crashed-again").string
                #expect { try Parallel(jobs: 2, backend: dask, retries: 0).run([CrashOnce(marker: again)]) } throws: { error in
                    (error as? ParallelError)?.code == .workerDied && (error as? ParallelError)?.taskIndex == 0
                }
            }
        }

        /// The overrunning task is the one named, in the middle of a batch; the tasks before it
        /// keep their results, and the Swift worker is replaced for the next call.
        @Test func aTimeoutInTheMiddleOfABatchNamesThatTask() throws {
            let tasks = [Nap(index: 0, seconds: 0.05), Nap(index: 1, seconds: 0.05), Nap(index: 2, seconds: 30), Nap(index: 3, seconds: 0)]
            let start = ContinuousClock.now
            let outcomes = Parallel(jobs: 1, backend: dask, batchSize: .fixed(4), timeout: .milliseconds(500)).results(tasks)
            #expect(ContinuousClock.now - start < .seconds(10))
            #expect((try? outcomes[0].get()) == 0 && (try? outcomes[1].get()) == 1 && (try? outcomes[3].get()) == 3)
            guard case .failure(let error as ParallelError) = outcomes[2] else {
                Issue.record("task 2 did not time out: \(outcomes[2])")
                return
            }
            #expect(error.code == .timeout && error.taskIndex == 2, "\(error)")
            #expect(try Parallel(jobs: 2, backend: dask).run([Square(value: 3)]) == [9])
        }
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
                try await Parallel(jobs: 2, backend: backend, timeout: .seconds(3)).run([Square(value: 2)])
            } throws: { error in
                (error as? DaskError)?.code == .noWorkers
            }
            #expect(ContinuousClock.now - start < .seconds(15), "took \(ContinuousClock.now - start)")
        }
    }
}
