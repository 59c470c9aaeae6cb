import Foundation
import JoblibParallel
import JoblibSystem
import Testing
@testable import JoblibProcesses

/// Every way a task can fail in a worker process (loky's crash matrix), through every entry point:
/// the culprit alone fails, with the right error and index; no innocent task fails; at most one
/// worker dies; the next call works; nothing is left running.
extension WorkerProcessSuites {
    @Suite(.timeLimit(.minutes(3))) struct CrashMatrixTests {
        static let cases: [(CrashStage, CrashKind)] = CrashStage.allCases.flatMap { stage in CrashKind.allCases.map { (stage, $0) } }
        /// Tasks 0..<8 in batches of 4 on 2 workers; task 2 fails (its batch mates 0, 1, 3 are innocent).
        static let culprit = 2
        static let parallel = Parallel(jobs: 2, backend: .processes, batchSize: .fixed(4))

        static func tasks(_ stage: CrashStage, _ kind: CrashKind) -> [CrashingTask] {
            (0..<8).map { CrashingTask(index: $0, stage: stage, kind: kind, fails: $0 == culprit) }
        }

        /// Checks the culprit's error: a thrown error arrives with its stage; a death as workerDied
        /// with the status and the stage in its one- or two-line description.
        static func expectCulpritError(_ error: any Error, _ stage: CrashStage, _ kind: CrashKind) {
            let context = "\(kind) while \(stage): \(error)"
            if kind == .throwError {
                if stage == .running {
                    #expect(error as? ModelError == ModelError(reason: "running task \(culprit)", index: -9), "\(context)")
                } else {
                    let remote = error as? RemoteTaskError
                    #expect(remote?.taskIndex == culprit, "\(context)")
                    #expect(remote?.stage == (stage == .decodingTask ? .decodingTask : .encodingResult), "\(context)")
                }
                return
            }
            guard let error = error as? ParallelError else {
                Issue.record("not a ParallelError: \(context)")
                return
            }
            #expect(error.code == .workerDied, "\(context)")
            #expect(error.taskIndex == culprit, "\(context)")
            switch kind {
            case .exit0: #expect(error.exitStatus == .exited(0), "\(context)")
            case .exit1: #expect(error.exitStatus == .exited(1), "\(context)")
            case .segfault: #expect(error.exitStatus == .signaled(SIGSEGV), "\(context)")
            case .sigkill: #expect(error.exitStatus == .signaled(SIGKILL), "\(context)")
            case .trap:
                #expect(error.exitStatus == .signaled(SIGILL) || error.exitStatus == .signaled(SIGTRAP), "\(context)")
                #expect(error.message.contains("Swift runtime trap"), "\(context)")
                #expect(error.message.contains("Fatal error: crash matrix"), "\(context)")
                #expect(error.stderrTail?.contains("Fatal error: crash matrix") == true, "\(context)")
            case .throwError: break
            }
            let words = ["decodingTask": "while decoding it", "running": "while running it", "encodingResult": "while encoding its result"]
            #expect(error.message.contains(words[stage.rawValue]!), "\(context)")
            #expect(error.description.split(separator: "\n").count <= 2, "\(context)")
        }

        /// After each case: the next call works and only the pool's idle workers are alive.
        static func expectRecovered(_ context: String) throws {
            #expect(try parallel.run((0..<6).map { Square(value: $0) }) == (0..<6).map { $0 * $0 }, "\(context)")
            #expect(childProcesses().count <= 2, "\(context): workers alive \(childProcesses())")
        }

        @Test(arguments: cases)
        func results(stage: CrashStage, kind: CrashKind) throws {
            _ = try Self.parallel.run((0..<4).map { Square(value: $0) })  // a warm pool
            let startedBefore = ProcessPool.workersStarted
            let outcomes = Self.parallel.results(Self.tasks(stage, kind))
            for (index, outcome) in outcomes.enumerated() where index != Self.culprit {
                #expect((try? outcome.get()) == CrashingOutput(value: index, failsToEncode: nil), "innocent task \(index): \(outcome)")
            }
            guard case .failure(let error) = outcomes[Self.culprit] else {
                Issue.record("task \(Self.culprit) did not fail (\(kind) while \(stage))")
                return
            }
            Self.expectCulpritError(error, stage, kind)
            // One death, one replacement (none for a thrown error).
            #expect(ProcessPool.workersStarted - startedBefore <= (kind == .throwError ? 0 : 1), "\(kind) while \(stage)")
            try Self.expectRecovered("\(kind) while \(stage)")
        }

        @Test(arguments: cases)
        func run(stage: CrashStage, kind: CrashKind) throws {
            do {
                _ = try Self.parallel.run(Self.tasks(stage, kind))
                Issue.record("the call did not fail (\(kind) while \(stage))")
            } catch {
                Self.expectCulpritError(error, stage, kind)
            }
            try Self.expectRecovered("\(kind) while \(stage)")
        }

        @Test(arguments: cases)
        func stream(stage: CrashStage, kind: CrashKind) async throws {
            var seen: [Int] = []
            do {
                for try await (index, output) in Self.parallel.stream(Self.tasks(stage, kind), order: .completion) {
                    #expect(output.value == index)
                    seen.append(index)
                }
                Issue.record("the stream did not fail (\(kind) while \(stage))")
            } catch {
                Self.expectCulpritError(error, stage, kind)
            }
            #expect(!seen.contains(Self.culprit))
            try Self.expectRecovered("\(kind) while \(stage)")
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
