import Foundation
import JoblibParallel
import JoblibProcesses
import JoblibSystem
import Synchronization
import Testing
@testable import JoblibDask

/// Calls the blocking form from an async test (overload resolution would pick the async one).
func blocking<T>(_ body: () throws -> T) rethrows -> T { try body() }

extension DaskTests.DaskBackendTests {
    /// The task conformance suite of JoblibProcessesTests (TaskConformanceTests.swift), on `.dask`,
    /// with the cluster of the enclosing suite; then what only a remote worker can do: die in the
    /// middle of a batch, be retried, overrun.
    @Suite(.serialized) struct DaskConformanceTests {
        var cluster: DaskTestCluster { DaskTestCluster.current! }
        var dask: Backend { .dask(scheduler: cluster.scheduler, options: DaskOptions(noWorkersTimeout: .seconds(20))) }

        @Test func inputOrderEmptyAndOne() async throws {
            let parallel = Parallel(jobs: 2, backend: dask)
            #expect(try blocking { try parallel.run((0..<500).map { Square(value: $0) }) } == (0..<500).map { $0 * $0 })
            #expect(try blocking { try parallel.run([Square]()) } == [])
            #expect(try blocking { try parallel.run([Square(value: 7)]) } == [49])
            #expect(try await parallel.run((0..<20).map { Square(value: $0) }) == (0..<20).map { $0 * $0 })
        }

        @Test func hundredThousandTinyTasks() throws {
            let values = try Parallel(jobs: 2, backend: dask).run((0..<100_000).map { Square(value: $0) })
            #expect(values.count == 100_000 && values[99_999] == 99_999 * 99_999)
        }

        @Test func firstErrorWinsAndLaterTasksDoNotStart() throws {
            try withTemporaryDirectory { directory in
                let tasks = (0..<2_000).map { Marked(directory: directory.string, index: $0, failAt: 10) }
                #expect(throws: ModelError(reason: "marked", index: 10)) { try Parallel(jobs: 2, backend: dask).run(tasks) }
                let started = try directoryEntries(directory).count
                #expect(started < 1_000, "\(started) of 2,000 tasks started after the failure")
            }
        }

        @Test func resultsKeepEveryOutcome() throws {
            let outcomes = Parallel(jobs: 2, backend: dask).results(
                (0..<10).map { Faulty(index: $0, failure: $0 % 3 == 0 ? .throwCodable : .none) })
            for (index, outcome) in outcomes.enumerated() {
                if index % 3 == 0 {
                    #expect(throws: ModelError(reason: "bad input", index: index)) { try outcome.get() }
                } else {
                    #expect(try outcome.get() == index)
                }
            }
        }

        @Test func streamsInBothOrders() async throws {
            let parallel = Parallel(jobs: 2, backend: dask)
            var inOrder: [Int] = []
            for try await (_, value) in parallel.stream((0..<50).map { Square(value: $0) }, order: .input) { inOrder.append(value) }
            #expect(inOrder == (0..<50).map { $0 * $0 })
            var seen = Set<Int>()
            for try await (index, value) in parallel.stream((0..<50).map { Square(value: $0) }, order: .completion) {
                #expect(value == index * index)
                seen.insert(index)
            }
            #expect(seen.count == 50)
        }

        @Test func nestedCallsRunSequentially() throws {
            let levels = try Parallel(jobs: 2, backend: dask).run((0..<4).map { Nesting(index: $0) })
            #expect(levels == [1, 1, 1, 1])
        }

        @Test func progressReachesTheTotal() throws {
            let last = Mutex<(Int, Int)>((0, 0))
            _ = try Parallel(jobs: 2, backend: dask, progress: { completed, total, _ in last.withLock { $0 = (completed, total) } })
                .run((0..<300).map { Square(value: $0) })
            #expect(last.withLock { $0 } == (300, 300))
        }

        @Test func timeoutNamesTheTask() throws {
            #expect { try Parallel(jobs: 2, backend: dask, timeout: .milliseconds(200)).run([Nap(index: 0, seconds: 0.01), Nap(index: 1, seconds: 2)]) } throws: { error in
                (error as? ParallelError)?.code == .timeout && (error as? ParallelError)?.taskIndex == 1
            }
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
        /// are not run.
        @Test func aCrashFailsTheCallFast() throws {
            try withTemporaryDirectory { directory in
                let tasks = (0..<6).map { Counted(directory: directory.string, index: $0, seconds: 0, traps: $0 == 2) }
                #expect { try Parallel(jobs: 1, backend: dask, batchSize: .fixed(6)).run(tasks) } throws: { error in
                    (error as? ParallelError)?.code == .workerDied && (error as? ParallelError)?.taskIndex == 2
                }
                #expect(Counted.runs(directory.string, 5) == 0)
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
