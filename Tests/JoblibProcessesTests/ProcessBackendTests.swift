import Foundation
import JoblibParallel
import JoblibSystem
import JoblibTestSupport
import Testing
@testable import JoblibProcesses

/// Worker processes are a shared resource: these tests run one at a time.
extension WorkerProcessSuites {
@Suite(.timeLimit(.minutes(2))) struct ProcessBackendTests {
    let parallel = Parallel(jobs: 2, backend: .processes)

    @Test func runsTasksInOtherProcessesInInputOrder() throws {
        let squares = try parallel.run((0..<200).map { Square(value: $0) })
        #expect(squares == (0..<200).map { $0 * $0 })
        let probes = try Parallel(jobs: 2, backend: .processes, batchSize: .fixed(1)).run((0..<4).map { WhereAmI(index: $0) })
        #expect(probes.allSatisfy { $0.pid != getpid() })
        #expect(probes.allSatisfy { $0.nesting == 1 })  // nested calls in a worker run sequentially
        #expect(probes.allSatisfy { $0.workerVariable == nil })  // the hook cleared it
        #expect(probes.allSatisfy { $0.ompThreads == String(max(1, cpuCount() / 2)) })
    }

    /// A worker limit below its minimum is the call's typed error (it used to trap the caller).
    @Test func aTaskLimitBelowOneIsAnErrorNotATrap() throws {
        let limited = Parallel(jobs: 2, backend: .processes(maxTasksPerWorker: 0))
        #expect {
            _ = try limited.run([Square(value: 3)])
        } throws: { error in
            (error as? ParallelError)?.code == .invalidWorkerLimit && "\(error)".contains("maxTasksPerWorker: 0")
        }
        #expect(try Parallel(jobs: 2, backend: .processes(maxTasksPerWorker: 1)).run([Square(value: 3)]) == [9])
    }

    /// Completion order is real: with batches of 5, the slow task 1 shares its batch with fast
    /// ones; the driver sends the batch in slices, so the other worker splits off the unsent
    /// tail, and the nine fast tasks all arrive long before the slow one.
    @Test(.timeLimit(.minutes(1))) func fastTasksDoNotWaitBehindASlowOneInTheirBatch() async throws {
        let tasks = [ConformanceNap(index: 0, seconds: 0.001), ConformanceNap(index: 1, seconds: 1.5)]
            + (2..<10).map { ConformanceNap(index: $0, seconds: 0.002) }
        let start = ContinuousClock.now
        var arrivals: [(index: Int, at: Duration)] = []
        let parallel = Parallel(jobs: 2, backend: .processes, batchSize: .fixed(5))
        for try await (index, value) in parallel.stream(tasks, order: .completion) {
            #expect(value == index)
            arrivals.append((index, ContinuousClock.now - start))
        }
        let described = arrivals.map { "\($0.index)@\($0.at)" }
        #expect(arrivals.count == 10)
        #expect(arrivals.last?.index == 1, "\(described)")
        #expect(arrivals.dropLast().allSatisfy { $0.at < .milliseconds(1_000) }, "\(described)")
    }

    @Test func emptyAndAsyncCalls() async throws {
        #expect(try await parallel.run([Square]()) == [])
        let squares = try await parallel.run((0..<10).map { Square(value: $0) })
        #expect(squares == (0..<10).map { $0 * $0 })
        var streamed: [Int: Int] = [:]
        for try await (index, value) in parallel.stream((0..<10).map { Square(value: $0) }, order: .completion) {
            streamed[index] = value
        }
        #expect(streamed.count == 10 && streamed[7] == 49)
    }

    @Test func poolIsReusedBetweenCalls() throws {
        let first = Set(try Parallel(jobs: 2, backend: .processes, batchSize: .fixed(1)).run((0..<8).map { WhereAmI(index: $0) }).map(\.pid))
        let second = Set(try Parallel(jobs: 2, backend: .processes, batchSize: .fixed(1)).run((0..<8).map { WhereAmI(index: $0) }).map(\.pid))
        #expect(!first.isDisjoint(with: second))
    }

    @Test func closuresAreRejected() {
        #expect { try parallel.map(0..<3) { $0 } } throws: { error in
            (error as? ParallelError)?.code == .unsupportedTask
        }
    }

    @Test func privateTaskTypesAreRejectedBeforeAnythingRuns() {
        #expect { try parallel.run([PrivateTask()]) } throws: { error in
            guard let error = error as? ParallelError, error.code == .unsupportedTask else { return false }
            return error.message.contains("file scope")
        }
    }

    @Test func codableErrorsArriveAsThemselvesOthersAsRemoteTaskError() throws {
        #expect(throws: ModelError(reason: "bad input", index: 3)) {
            try parallel.run((0..<5).map { Faulty(index: $0, failure: $0 == 3 ? .throwCodable : .none) })
        }
        #expect { try parallel.run([Faulty(index: 0, failure: .throwOpaque)]) } throws: { error in
            guard let error = error as? RemoteTaskError else { return false }
            return error.taskIndex == 0 && error.stage == .running && error.typeName.hasSuffix("OpaqueError")
                && error.errorDescription == "opaque failure"
        }
    }

    /// What a task printed before it trapped is in the error's standard-error tail. (Every other
    /// way to die, at every stage and entry point, is the crash matrix: CrashMatrixTests.)
    @Test func aTrapKeepsWhatTheTaskPrintedBefore() throws {
        let tasks = (0..<6).map { Faulty(index: $0, failure: $0 == 2 ? .printThenTrap : .none) }
        let outcomes = Parallel(jobs: 2, backend: .processes, batchSize: .fixed(3)).results(tasks)
        for (index, outcome) in outcomes.enumerated() where index != 2 {
            #expect((try? outcome.get()) == index, "task \(index) after a trap in task 2")
        }
        guard case .failure(let error as ParallelError) = outcomes[2] else {
            Issue.record("task 2 did not fail with ParallelError: \(outcomes[2])")
            return
        }
        #expect(error.code == .workerDied && error.taskIndex == 2)
        #expect(error.stderrTail?.contains("about to trap in task 2") == true, "tail: \(error.stderrTail?.count ?? -1) bytes")
    }

    /// Failures in this process, in `run`: a task that cannot be encoded throws its own error;
    /// a result that cannot be decoded here fails at `decodingResult`. (Failures while decoding
    /// a task or encoding a result in the worker are the crash matrix's.)
    @Test func failuresWhileCodingTasksAndResults() throws {
        #expect(throws: ModelError(reason: "cannot encode", index: -2)) { try parallel.run([UnencodableTask()]) }
        // The task succeeded; its result cannot be decoded here: a stage of its own, not the task's error.
        #expect { try parallel.run([UndecodableResultTask(index: 0)]) } throws: { error in
            guard let error = error as? RemoteTaskError else { return false }
            return error.stage == .decodingResult && error.taskIndex == 0 && error.errorDescription.contains("cannot decode result")
        }
        #expect(try parallel.run([Square(value: 3)]) == [9])
    }

    @Test func retriesRunACrashedTaskAgain() throws {
        try withTemporaryDirectory { directory in
            let marker = directory.appending("marker").string
            let outcome = try Parallel(jobs: 1, backend: .processes, retries: 1).run([CrashOnce(marker: marker)])
            #expect(outcome == ["second try"])
            let again = directory.appending("marker2").string
            #expect { try Parallel(jobs: 2, backend: .processes, retries: 0).run([CrashOnce(marker: again)]) } throws: { error in
                (error as? ParallelError)?.code == .workerDied
            }
        }
    }

    @Test func cancellingTheCallerKillsTheRunningTask() async throws {
        let start = ContinuousClock.now
        let call = Task { try await Parallel(jobs: 2, backend: .processes).run([Sleeper(seconds: 1_000), Sleeper(seconds: 1_000)]) }
        try await Task.sleep(for: .milliseconds(300))
        call.cancel()
        await #expect(throws: CancellationError.self) { try await call.value }
        #expect(ContinuousClock.now - start < .seconds(3))
        #expect(try await parallel.run([Square(value: 4)]) == [16])
    }

    @Test func aFailureStopsTheOtherWorkersBatch() throws {
        // Batch 0 (tasks 0-3) fails in its first task after 0.2 s; batch 1 (tasks 4-7, another
        // worker) would take 4 s to run to its end, and must not.
        let tasks = (0..<8).map { SlowThenFail(seconds: $0 == 0 ? 0.2 : 1, fails: $0 == 0) }
        let start = ContinuousClock.now
        #expect(throws: ModelError.self) { try Parallel(jobs: 2, backend: .processes, batchSize: .fixed(4)).run(tasks) }
        #expect(ContinuousClock.now - start < .milliseconds(2_500))
        #expect(try parallel.run([Square(value: 2)]) == [4])
    }

    @Test func chattyTasksDoNotBlockThePool() throws {
        let sizes = try parallel.run((0..<4).map { _ in Chatty(bytes: 200_000) })
        #expect(sizes == [200_000, 200_000, 200_000, 200_000])
    }

    @Test func maxTasksPerWorkerRecyclesWorkers() throws {
        let backend = Backend.processes(maxTasksPerWorker: 1)
        let pids = try Parallel(jobs: 1, backend: backend, batchSize: .fixed(1)).run((0..<4).map { WhereAmI(index: $0) }).map(\.pid)
        #expect(Set(pids).count == 4)
    }

    @Test func multiprocessingOffRunsThreads() throws {
        // The environment variable is read at start-up; the configuration it sets is what counts.
        var configuration = ParallelConfiguration.fromEnvironment { $0 == "JOBLIB_MULTIPROCESSING" ? "0" : nil }
        #expect(configuration.processesRunThreads)
        configuration = ParallelConfiguration.fromEnvironment { _ in nil }
        #expect(!configuration.processesRunThreads)
    }

    @Test func noWorkerOutlivesTheShutdown() throws {
        _ = try parallel.run((0..<4).map { Square(value: $0) })
        ProcessPool.shutDownAll()
        #expect(ProcessPool.idleWorkerCount == 0)
        #expect(childProcesses().isEmpty, "left running: \(childProcesses())")
    }
}

}

/// Every suite that starts worker processes, run one test at a time: the pool is shared, and the
/// leak checks count this process's workers.
@Suite(.serialized) enum WorkerProcessSuites {}

private struct PrivateTask: ParallelTask {
    func run() throws -> Int { 0 }
}

/// Pids of this process's live worker children (this executable re-executed; other tests' helper
/// processes are not counted).
func childProcesses() -> [Int32] { liveChildren(of: getpid()).map(\.pid).filter(runsThisExecutable) }

extension WorkerProcessSuites.ProcessBackendTests {
    @Test func aMemoryLimitRecyclesWorkers() throws {
        // Every worker is over a 1-byte limit after its first batch, so each batch gets a new one.
        let backend = Backend.processes(memoryLimit: .bytes(1))
        let pids = try Parallel(jobs: 1, backend: backend, batchSize: .fixed(1)).run((0..<3).map { WhereAmI(index: $0) }).map(\.pid)
        #expect(Set(pids).count == 3)
    }
}
