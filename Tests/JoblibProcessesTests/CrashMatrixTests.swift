import Foundation
import JoblibParallel
import JoblibSystem
import JoblibTestSupport
import Testing
@testable import JoblibProcesses

/// The crash matrix (JoblibTestSupport) on worker processes: every stage × kind × entry point,
/// blocking and `async`. After each case at most one worker was started, and only the pool's
/// idle workers are alive. Then the process backend's own cases.
extension WorkerProcessSuites {
    @Suite(.serialized, .timeLimit(.minutes(5))) struct CrashMatrixTests {
        static let parallel = Parallel(jobs: 2, backend: .processes, batchSize: .fixed(4))

        @Test(arguments: CrashCase.all(for: .processes))
        func crashes(_ check: CrashCase) async throws {
            let matrix = CrashMatrix(
                backend: .processes, capabilities: .processes, workersStarted: { ProcessPool.workersStarted },
                afterEach: { context in #expect(childProcesses().count <= 2, "\(context): workers alive \(childProcesses())") })
            try await matrix.run(check)
        }

        /// Fixed-layout tasks: batches travel as bytes; a death while one runs still blames it alone.
        @Test(arguments: CrashCase.fixedLayout(for: .processes))
        func fixedLayoutCrashes(_ check: CrashCase) async throws {
            let matrix = CrashMatrix(
                backend: .processes, capabilities: .processes, workersStarted: { ProcessPool.workersStarted },
                afterEach: { context in #expect(childProcesses().count <= 2, "\(context): workers alive \(childProcesses())") })
            try await matrix.runFixedLayout(check)
        }

        /// Failures in the calling process (encoding a task, decoding a result) cost their task alone.
        @Test func failuresInTheCallingProcess() throws {
            let encodeFailure = Parallel(jobs: 2, backend: .processes).results([UnencodableTask(), UnencodableTask()])
            #expect(encodeFailure.allSatisfy { outcome in
                if case .failure(let error as ModelError) = outcome { return error.index == -2 }
                return false
            })
            let outcomes = Parallel(jobs: 2, backend: .processes, batchSize: .fixed(4)).results((0..<8).map { UndecodableResultTask(index: $0) })
            for (index, outcome) in outcomes.enumerated() {
                guard case .failure(let error as RemoteTaskError) = outcome else {
                    Issue.record("task \(index): \(outcome)")
                    continue
                }
                #expect(error.stage == .decodingResult && error.taskIndex == index)
            }
        }

        /// The issue's cases: a trap in task 2's result with batches of 4 fails task 2 alone.
        @Test func aTrapInOneResultOfABatchFailsThatTaskAlone() throws {
            let outcomes = Parallel(jobs: 2, backend: .processes, batchSize: .fixed(4)).results((0..<8).map { BadResultAt(index: $0, bad: 2) })
            let failed = outcomes.indices.filter { (try? outcomes[$0].get()) == nil }
            #expect(failed == [2])
        }

        /// Auto-batching over 2,000 tasks with one bad result at 1,500: one failure, one worker death.
        @Test func autoBatchingBlamesOnlyTheCulprit() throws {
            _ = try Self.parallel.run((0..<4).map { Square(value: $0) })
            let startedBefore = ProcessPool.workersStarted
            let start = ContinuousClock.now
            let outcomes = Parallel(jobs: 2, backend: .processes).results((0..<2_000).map { BadResultAt(index: $0, bad: 1_500) })
            let failed = outcomes.indices.filter { (try? outcomes[$0].get()) == nil }
            #expect(failed == [1_500])
            #expect(ProcessPool.workersStarted - startedBefore <= 1)
            #expect(ContinuousClock.now - start < .seconds(3))
            // And with retries, the culprit runs again (and dies again) without blaming anyone else.
            let retried = Parallel(jobs: 2, backend: .processes, retries: 1).results((0..<2_000).map { BadResultAt(index: $0, bad: 1_500) })
            #expect(retried.indices.filter { (try? retried[$0].get()) == nil } == [1_500])
        }
    }
}
