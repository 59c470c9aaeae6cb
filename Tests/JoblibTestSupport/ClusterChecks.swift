import Foundation
import JoblibParallel
import JoblibSystem
import Testing

/// The checks that the cluster backends (Dask, Ray) share, written once and run by each backend's
/// suite against its own test cluster: calls, errors, crashes, timeouts and cancellation of Swift
/// workers that run on a cluster's nodes. The suites keep their time limits and what only their
/// backend has (its cluster, its error type, how its workers are killed).
///
/// ```swift
/// @Test func timeoutKillsTheSwiftWorker() throws { try ClusterChecks(backend: dask).timeoutKillsTheSwiftWorker() }
/// ```
///
/// Each check assumes a cluster with two one-thread Swift workers.
public struct ClusterChecks: Sendable {
    /// The backend under test, on its test cluster.
    public var backend: Backend

    /// Checks `backend` (a cluster backend whose cluster has two one-thread Swift workers).
    public init(backend: Backend) { self.backend = backend }

    // MARK: - Calls

    /// `jobs` does not bound a cluster call: as joblib's Dask backend (its `effective_n_jobs` is the
    /// cluster's thread count) and as `Backend.ray` documents, the cluster's size sets how many
    /// submissions are in flight. With `jobs: 1`, 40 tasks of 50 ms in batches of one keep both
    /// Swift workers busy: the bridge saw at least 2 and at most `limit` submissions at once,
    /// and none is left in flight after the call. `counters` asks the idle bridge for its
    /// `statistics` (BridgeProtocol.md); it is called before the call (which resets the maximum)
    /// and after.
    public func jobsDoesNotBoundTheSubmissionsInFlight(limit: Int, counters: () throws -> [String: String]) throws {
        _ = try Parallel(jobs: 2, backend: backend).run([ConformanceSquare(value: 1)])  // the bridge is up
        _ = try counters()
        let tasks = (0..<40).map { ConformanceNap(index: $0, seconds: 0.05) }
        #expect(try Parallel(jobs: 1, backend: backend, batchSize: .fixed(1)).run(tasks) == Array(0..<40))
        let after = try counters()
        let most = try #require(after["max_in_flight"].flatMap { Int($0) }, "no max_in_flight in \(after)")
        #expect((2...limit).contains(most), "\(after)")
        #expect(after["in_flight"] == "0", "\(after)")
    }

    /// 300 squares in input order, then 8 probes run one per batch: none ran in this process or
    /// a child of it, the worker hook cleared `JOBLIB_WORKER`, and at most two Swift workers ran
    /// them (one long-lived Swift worker per cluster worker). Returns the probes.
    @discardableResult
    public func resultsArriveInInputOrder() throws -> [ClusterProbe] {
        let squares = try Parallel(jobs: 2, backend: backend).run((0..<300).map { ConformanceSquare(value: $0) })
        #expect(squares == (0..<300).map { $0 * $0 })
        let probes = try Parallel(jobs: 2, backend: backend, batchSize: .fixed(1)).run((0..<8).map { ClusterWhereAmI(index: $0) })
        #expect(probes.allSatisfy { $0.pid != getpid() && $0.parent != getpid() })  // under a cluster worker
        #expect(probes.allSatisfy { $0.workerVariable == nil })  // the hook cleared it
        #expect(Set(probes.map(\.pid)).count <= 2)
        return probes
    }

    /// An empty async call, then a streamed one in completion order: every result arrives.
    public func asyncAndStreamingCalls() async throws {
        let parallel = Parallel(jobs: 2, backend: backend)
        #expect(try await parallel.run([ConformanceSquare]()) == [])
        var streamed: [Int: Int] = [:]
        for try await (index, value) in parallel.stream((0..<20).map { ConformanceSquare(value: $0) }, order: .completion) {
            streamed[index] = value
        }
        #expect(streamed.count == 20 && streamed[7] == 49)
    }

    /// A Codable error arrives as itself; another as RemoteTaskError naming the task and stage.
    public func codableErrorsArriveAsThemselvesOthersAsRemoteTaskError() throws {
        let parallel = Parallel(jobs: 2, backend: backend)
        #expect(throws: ClusterModelError(reason: "bad input", index: 3)) {
            try parallel.run((0..<5).map { ClusterFaulty(index: $0, failure: $0 == 3 ? .throwCodable : .none) })
        }
        #expect { try parallel.run([ClusterFaulty(index: 0, failure: .throwOpaque)]) } throws: { error in
            guard let error = error as? RemoteTaskError else { return false }
            return error.taskIndex == 0 && error.stage == .running && error.errorDescription == "opaque failure"
        }
    }

    /// Task 2 of 6 traps: it alone fails, with its signal and stderr; the Swift worker is
    /// replaced for the next call.
    public func aTaskThatTrapsItsSwiftWorkerFailsAlone() throws {
        let tasks = (0..<6).map { ClusterFaulty(index: $0, failure: $0 == 2 ? .trap : .none) }
        let outcomes = Parallel(jobs: 2, backend: backend, batchSize: .fixed(3)).results(tasks)
        for (index, outcome) in outcomes.enumerated() where index != 2 {
            #expect((try? outcome.get()) == index, "task \(index): \(outcome)")
        }
        guard case .failure(let error as ParallelError) = outcomes[2] else {
            Issue.record("task 2 did not fail with ParallelError: \(outcomes[2])")
            return
        }
        #expect(error.code == .workerDied && error.taskIndex == 2)
        #expect(error.exitStatus == .signaled(SIGILL) || error.exitStatus == .signaled(SIGTRAP), "\(error)")
        #expect(error.stderrTail?.contains("task 2 gave up") == true, "tail: \(error.stderrTail ?? "nil")")
        #expect(try Parallel(jobs: 2, backend: backend).run((0..<4).map { ConformanceSquare(value: $0) }) == [0, 1, 4, 9])
    }

    /// A closure cannot cross to a cluster: `unsupportedTask`, whose message contains
    /// `mentioning` when given.
    public func closuresAreRejected(mentioning: String? = nil) {
        #expect { try Parallel(jobs: 2, backend: backend).map(0..<3) { $0 } } throws: { error in
            (error as? ParallelError)?.code == .unsupportedTask && (mentioning.map { "\(error)".contains($0) } ?? true)
        }
    }

    /// A task that overruns the call's timeout is named in a `timeout` error within 10 s, and
    /// the next call works.
    public func timeoutKillsTheSwiftWorker() throws {
        let start = ContinuousClock.now
        let parallel = Parallel(jobs: 2, backend: backend, batchSize: .fixed(1), timeout: .seconds(1))
        #expect { try parallel.run([ConformanceNap(index: 0, seconds: 0.01), ConformanceNap(index: 1, seconds: 1_000)]) } throws: { error in
            (error as? ParallelError)?.code == .timeout && (error as? ParallelError)?.taskIndex == 1
        }
        #expect(ContinuousClock.now - start < .seconds(10))
        #expect(try Parallel(jobs: 2, backend: backend).run([ConformanceSquare(value: 5)]) == [25])
    }

    /// Two 3 MB arguments arrive whole.
    public func largeArgumentsArrive() throws {
        let blob = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0) }
        let expected = blob.reduce(0) { $0 &+ Int($1) }
        let sums = try Parallel(jobs: 2, backend: backend, batchSize: .fixed(1))
            .run([ClusterChecksum(bytes: blob), ClusterChecksum(bytes: blob)])
        #expect(sums == [expected, expected])
    }

    /// Two 3 MB results arrive whole: relayed inline (a bridge's Swift worker is never asked to
    /// pass memory files, which only a `.processes` parent can take).
    public func largeResultsArrive() throws {
        let blobs = try Parallel(jobs: 2, backend: backend, batchSize: .fixed(1))
            .run([ClusterBlob(seed: 1, count: 3_000_000), ClusterBlob(seed: 2, count: 3_000_000)])
        #expect(blobs == [1, 2].map { seed in (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &+ seed) } })
    }

    /// Cancelling the caller cancels the submissions in flight and kills the Swift workers
    /// running them: the tasks after the running ones never start (each takes 1 s; 3.5 s after
    /// the cancel, running on would have started all 8).
    public func aCancelKillsTheRunningSwiftWorkers() async throws {
        let directory = NSTemporaryDirectory() + "joblib-cluster-cancel-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let tasks = (0..<8).map { ConformanceMarked(directory: directory, index: $0, seconds: 1) }
        let parallel = Parallel(jobs: 2, backend: backend, batchSize: .fixed(4))
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
    /// 20 ms flush interval) before task 3 trapped: they come back as sent, task 3 alone fails,
    /// and 4–5 run once on a fresh Swift worker.
    public func aCrashAfterFlushedResultsKeepsThem() throws {
        try withTemporaryDirectory { directory in
            let tasks = (0..<6).map { ClusterCounted(directory: directory.string, index: $0, seconds: 0.03, traps: $0 == 3) }
            let outcomes = Parallel(jobs: 1, backend: backend, batchSize: .fixed(6)).results(tasks)
            expectCulpritAlone(outcomes, culprit: 3)
            for index in [0, 1, 2, 4, 5] {
                let runs = ClusterCounted.runs(directory.string, index)
                #expect(runs == 1, "task \(index) ran \(runs) times")
            }
            #expect(ClusterCounted.runs(directory.string, 3) == 1)  // no retries asked for
        }
    }

    /// Tasks 0–2 finished too quickly for a flush when task 3 trapped: their results died with
    /// the worker, the status words named task 3, and 0–2 run again with correct results.
    public func aCrashBeforeAFlushRerunsTheTasksBeforeIt() throws {
        try withTemporaryDirectory { directory in
            let tasks = (0..<6).map { ClusterCounted(directory: directory.string, index: $0, seconds: 0, traps: $0 == 3) }
            let outcomes = Parallel(jobs: 1, backend: backend, batchSize: .fixed(6)).results(tasks)
            expectCulpritAlone(outcomes, culprit: 3)
            for index in [0, 1, 2] {
                // Twice, unless the machine stalled past the flush interval before the trap.
                #expect((1...2).contains(ClusterCounted.runs(directory.string, index)))
            }
            #expect(ClusterCounted.runs(directory.string, 3) == 1 && ClusterCounted.runs(directory.string, 4) == 1)
        }
    }

    private func expectCulpritAlone(_ outcomes: [Result<Int, any Error>], culprit: Int) {
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

    /// `run` (fail fast): the crash is the call's error, and the tasks after it in the batch are
    /// not run: neither those after it in its submission nor those of the tail another Swift
    /// worker split off (it is killed while it runs task 3, 4 s; the crash's report takes a Swift
    /// worker a second or two, more at a load of 15 on two cores).
    public func aCrashFailsTheCallFast() throws {
        // A Swift worker on each cluster worker first: a cold start (a second or more under
        // load) before task 0 would let task 3 end before the crash is reported. (A cancel in an
        // earlier test may have killed one: a killed Swift worker is not reused.)
        let warm = (0..<2).map { ConformanceNap(index: $0, seconds: 0.3) }
        #expect(try Parallel(jobs: 2, backend: backend, batchSize: .fixed(1)).run(warm) == [0, 1])
        try withTemporaryDirectory { directory in
            let tasks = (0..<6).map {
                ClusterCounted(directory: directory.string, index: $0, seconds: $0 == 0 ? 0 : 4, traps: $0 == 0)
            }
            #expect { try Parallel(jobs: 1, backend: backend, batchSize: .fixed(6)).run(tasks) } throws: { error in
                (error as? ParallelError)?.code == .workerDied && (error as? ParallelError)?.taskIndex == 0
            }
            // Had it not been killed, the other Swift worker would have started task 4 by now (task
            // 3 started before the call failed).
            Thread.sleep(forTimeInterval: 4.5)
            for index in [1, 2, 4, 5] { #expect(ClusterCounted.runs(directory.string, index) == 0, "task \(index) ran") }
        }
    }

    /// `retries: 1` runs a task whose Swift worker crashed again; `retries: 0` does not.
    public func retriesRunACrashedTaskAgain() throws {
        try withTemporaryDirectory { directory in
            let marker = directory.appending("crashed-once").string
            let outcome = try Parallel(jobs: 1, backend: backend, retries: 1).run([ConformanceCrashOnce(marker: marker)])
            #expect(outcome == ["second try"])
            let again = directory.appending("crashed-again").string
            #expect { try Parallel(jobs: 2, backend: backend, retries: 0).run([ConformanceCrashOnce(marker: again)]) } throws: { error in
                (error as? ParallelError)?.code == .workerDied && (error as? ParallelError)?.taskIndex == 0
            }
        }
    }

    /// The overrunning task is the one named, in the middle of a batch; the tasks before it keep
    /// their results, and the Swift worker is replaced for the next call.
    public func aTimeoutInTheMiddleOfABatchNamesThatTask() throws {
        let tasks = [
            ConformanceNap(index: 0, seconds: 0.05), ConformanceNap(index: 1, seconds: 0.05), ConformanceNap(index: 2, seconds: 30),
            ConformanceNap(index: 3, seconds: 0),
        ]
        let start = ContinuousClock.now
        let outcomes = Parallel(jobs: 1, backend: backend, batchSize: .fixed(4), timeout: .milliseconds(500)).results(tasks)
        #expect(ContinuousClock.now - start < .seconds(10))
        #expect((try? outcomes[0].get()) == 0 && (try? outcomes[1].get()) == 1 && (try? outcomes[3].get()) == 3)
        guard case .failure(let error as ParallelError) = outcomes[2] else {
            Issue.record("task 2 did not time out: \(outcomes[2])")
            return
        }
        #expect(error.code == .timeout && error.taskIndex == 2, "\(error)")
        #expect(try Parallel(jobs: 2, backend: backend).run([ConformanceSquare(value: 3)]) == [9])
    }
}
