import Foundation
import JoblibParallel
import JoblibSystem
import Synchronization
import Testing
@testable import JoblibProcesses

/// The backend conformance suite for `ParallelTask` values, run on every backend that runs them,
/// worker processes included (closure-based checks live in JoblibParallelTests).
let taskBackends: [Backend] = [.sequential, .threads, .processes]

/// Calls the blocking form from an async test (overload resolution would pick the async one).
func blocking<T>(_ body: () throws -> T) rethrows -> T { try body() }

extension WorkerProcessSuites {
    @Suite struct TaskConformanceTests {
        @Test(arguments: taskBackends)
        func inputOrderEmptyAndOne(backend: Backend) async throws {
            let parallel = Parallel(jobs: 2, backend: backend)
            #expect(try blocking { try parallel.run((0..<500).map { Square(value: $0) }) } == (0..<500).map { $0 * $0 })
            #expect(try blocking { try parallel.run([Square]()) } == [])
            #expect(try blocking { try parallel.run([Square(value: 7)]) } == [49])
            #expect(try await parallel.run((0..<20).map { Square(value: $0) }) == (0..<20).map { $0 * $0 })
        }

        @Test(arguments: taskBackends)
        func hundredThousandTinyTasks(backend: Backend) throws {
            let values = try Parallel(jobs: 2, backend: backend).run((0..<100_000).map { Square(value: $0) })
            #expect(values.count == 100_000 && values[99_999] == 99_999 * 99_999)
        }

        @Test(arguments: taskBackends)
        func firstErrorWinsAndLaterTasksDoNotStart(backend: Backend) throws {
            try withTemporaryDirectory { directory in
                let tasks = (0..<2_000).map { Marked(directory: directory.string, index: $0, failAt: 10) }
                #expect(throws: ModelError(reason: "marked", index: 10)) { try Parallel(jobs: 2, backend: backend).run(tasks) }
                let started = try directoryEntries(directory).count
                #expect(started < 1_000, "\(started) of 2,000 tasks started after the failure")
            }
        }

        @Test(arguments: taskBackends)
        func resultsKeepEveryOutcome(backend: Backend) throws {
            let outcomes = Parallel(jobs: 2, backend: backend).results(
                (0..<10).map { Faulty(index: $0, failure: $0 % 3 == 0 ? .throwCodable : .none) })
            for (index, outcome) in outcomes.enumerated() {
                if index % 3 == 0 {
                    #expect(throws: ModelError(reason: "bad input", index: index)) { try outcome.get() }
                } else {
                    #expect(try outcome.get() == index)
                }
            }
        }

        @Test(arguments: taskBackends)
        func streamsInBothOrders(backend: Backend) async throws {
            let parallel = Parallel(jobs: 2, backend: backend)
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

        @Test(arguments: taskBackends)
        func nestedCallsRunSequentially(backend: Backend) throws {
            let probes = try Parallel(jobs: 2, backend: backend).run((0..<4).map { WhereAmI(index: $0) })
            #expect(probes.allSatisfy { $0.nesting == 1 })
        }

        @Test(arguments: taskBackends)
        func progressReachesTheTotal(backend: Backend) throws {
            let last = Mutex<(Int, Int)>((0, 0))
            _ = try Parallel(jobs: 2, backend: backend, progress: { completed, total, _ in last.withLock { $0 = (completed, total) } })
                .run((0..<300).map { Square(value: $0) })
            #expect(last.withLock { $0 } == (300, 300))
        }

        @Test(arguments: [Backend.threads, .processes])
        func timeoutNamesTheTask(backend: Backend) throws {
            #expect { try Parallel(jobs: 2, backend: backend, timeout: .milliseconds(200)).run([Sleeper(seconds: 0.01), Sleeper(seconds: 2)]) } throws: { error in
                (error as? ParallelError)?.code == .timeout && (error as? ParallelError)?.taskIndex == 1
            }
        }
    }
}
