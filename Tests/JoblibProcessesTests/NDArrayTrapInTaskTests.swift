import Foundation
import JoblibParallel
import JoblibPersistence
import Testing
import JoblibProcesses

/// Reads (or writes, then reads) the element of a 2 × 2 `NDArray` at `indices`: one index is a
/// flat position, two are a row and a column. Out of range, it traps in its worker.
struct TouchesAnNDArray: ParallelTask {
    var indices: [Int]
    var writes: Bool
    func run() throws -> Double {
        var array = NDArray<Double>(shape: [2, 2], [1, 2, 3, 4])
        if indices.count == 1 {
            if writes { array[indices[0]] = 10 * array[indices[0]] }
            return array[indices[0]]
        }
        if writes { array[indices] = 10 * array[indices] }
        return array[indices]
    }
}

extension WorkerProcessSuites {
    /// An out-of-range `NDArray` access in a task traps its worker: that task alone fails, with
    /// the trap's message in its error; the other tasks of its batch and the next call succeed.
    @Suite(.timeLimit(.minutes(1))) struct NDArrayTrapInTaskTests {
        @Test(arguments: [
            ([7], false, "NDArray index 7 is out of range 0..<4"),
            ([-1], true, "NDArray index -1 is out of range 0..<4"),
            ([2, 0], false, "NDArray index [2, 0] is out of bounds for shape [2, 2]"),
            ([0, 2], true, "NDArray index [0, 2] is out of bounds for shape [2, 2]"),
        ])
        func anOutOfRangeAccessFailsOnlyItsTask(culprit: [Int], writes: Bool, message: String) throws {
            let good: [[Int]] = [[0], [1, 1], [3]]
            let tasks = [good[0], good[1], culprit, good[2]].map { TouchesAnNDArray(indices: $0, writes: writes) }
            let outcomes = Parallel(jobs: 2, backend: .processes, batchSize: .fixed(4)).results(tasks)
            let expected: [Double] = [1, 4, 0, 4].map { writes ? 10 * $0 : $0 }
            for index in [0, 1, 3] {
                #expect((try? outcomes[index].get()) == expected[index], "task \(index): \(outcomes[index])")
            }
            guard case .failure(let error as ParallelError) = outcomes[2] else {
                Issue.record("task 2 did not fail with ParallelError: \(outcomes[2])")
                return
            }
            #expect(error.code == .workerDied && error.taskIndex == 2, "\(error)")
            #expect(error.exitStatus == .signaled(SIGILL) || error.exitStatus == .signaled(SIGTRAP), "\(error)")
            #expect(error.stderrTail?.contains(message) == true, "tail: \(error.stderrTail ?? "nil")")
            #expect(try Parallel(jobs: 2, backend: .processes).run(tasks.filter { $0.indices != culprit }) == [0, 1, 3].map { expected[$0] })
        }
    }
}
