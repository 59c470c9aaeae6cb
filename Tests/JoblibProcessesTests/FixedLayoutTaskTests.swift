import Foundation
import JoblibCoding
import JoblibParallel
import JoblibTestSupport
import Testing
@testable import JoblibProcesses

// Task types at file scope: worker processes find them by name.

/// A fixed-layout output of several fields (an enum, a nested struct, a Bool).
struct Moments: FixedLayoutValue, Equatable {
    enum Sign: UInt8, Codable { case negative, zero, positive }
    struct Pair: Codable, Equatable { var low: Int32; var high: Int32 }
    var mean: Double
    var sign: Sign
    var pair: Pair
    var even: Bool
}

/// Fixed-layout task whose `Codable` conformance throws: it succeeds on `.processes` only when
/// its batches and outputs travel as bytes.
struct MomentsTask: FixedLayoutTask {
    var value: Int
    var scale: Double
    var flag: Bool

    init(value: Int, scale: Double, flag: Bool) {
        self.value = value
        self.scale = scale
        self.flag = flag
    }

    func run() throws -> Moments {
        Moments(
            mean: Double(value) * scale, sign: value < 0 ? .negative : value == 0 ? .zero : .positive,
            pair: Moments.Pair(low: Int32(truncatingIfNeeded: value), high: Int32(truncatingIfNeeded: value >> 32)),
            even: flag == value.isMultiple(of: 2))
    }

    init(from decoder: any Decoder) throws { throw ModelError(reason: "decoded through Codable", index: -10) }
    func encode(to encoder: any Encoder) throws { throw ModelError(reason: "encoded through Codable", index: -11) }
}

/// Sleeps `milliseconds`, then returns its index.
struct SleepingFixedLayoutTask: FixedLayoutTask {
    var index: Int
    var milliseconds: Int32
    func run() throws -> Int {
        usleep(useconds_t(milliseconds) * 1_000)
        return index
    }
}

extension WorkerProcessSuites {
    @Suite(.serialized, .timeLimit(.minutes(2))) struct FixedLayoutTaskTests {
        @Test func onlyFixedLayoutTasksTravelAsBytes() {
            #expect(MomentsTask.travelsAsFixedLayout)
            #expect(FixedLayoutCrashingTask.travelsAsFixedLayout)
            #expect(!Square.travelsAsFixedLayout)
        }

        /// Outputs equal a local run's, in input order, with auto-batching (large batches in slices)
        /// and with batches of one.
        @Test(arguments: [BatchSize.auto, .fixed(1), .fixed(7)])
        func fixedLayoutTasksRunInWorkerProcesses(_ batchSize: BatchSize) throws {
            let count = batchSize == .auto ? 5_000 : 300
            let tasks = (0..<count).map { MomentsTask(value: $0 - 1_000, scale: 0.5, flag: $0 % 3 == 0) }
            let outcomes = try Parallel(jobs: 2, backend: .processes, batchSize: batchSize).run(tasks)
            #expect(outcomes == tasks.map { try! $0.run() })
        }

        /// The status words time each task of a block: one past the timeout fails alone (in
        /// `results`), its batch mates still run.
        @Test func aFixedLayoutTaskPastTheTimeoutFailsAlone() {
            let tasks = (0..<8).map { SleepingFixedLayoutTask(index: $0, milliseconds: $0 == 5 ? 5_000 : 1) }
            let outcomes = Parallel(jobs: 2, backend: .processes, batchSize: .fixed(4), timeout: .milliseconds(500)).results(tasks)
            for (index, outcome) in outcomes.enumerated() where index != 5 { #expect((try? outcome.get()) == index) }
            guard case .failure(let error as ParallelError) = outcomes[5] else {
                Issue.record("task 5: \(outcomes[5])")
                return
            }
            #expect(error.code == .timeout && error.taskIndex == 5)
        }

        /// Auto-batching over 2,000 tasks with a trap at 1,500: that task alone fails, one worker dies.
        @Test func aTrapInAFixedLayoutBatchBlamesOnlyTheCulprit() throws {
            let parallel = Parallel(jobs: 2, backend: .processes)
            _ = try parallel.run((0..<4).map { FixedLayoutCrashingTask(index: $0, kind: .throwError, fails: false) })
            let startedBefore = ProcessPool.workersStarted
            let outcomes = parallel.results((0..<2_000).map { FixedLayoutCrashingTask(index: $0, kind: .trap, fails: $0 == 1_500) })
            let failed = outcomes.indices.filter { (try? outcomes[$0].get()) == nil }
            #expect(failed == [1_500])
            #expect(outcomes.indices.allSatisfy { $0 == 1_500 || (try? outcomes[$0].get()) == $0 })
            if case .failure(let error as ParallelError) = outcomes[1_500] {
                #expect(error.code == .workerDied && error.taskIndex == 1_500)
                #expect(error.message.contains("while running it"))
            } else {
                Issue.record("task 1500: \(outcomes[1_500])")
            }
            #expect(ProcessPool.workersStarted - startedBefore <= 1)
        }
    }
}
