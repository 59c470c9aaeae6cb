import Foundation
import JoblibParallel
import JoblibProcesses
import JoblibSystem
import JoblibTypes
import Testing
@testable import JoblibDask

/// The Dask suites run one after the other: each has a cluster of its own, and the machine has
/// few cores.
@Suite(.serialized) enum DaskTests {}

extension DaskTests {
    /// Against a real scheduler and two workers on 127.0.0.1; one test at a time, because some kill
    /// workers. Every wait is bounded: the calls' own timeouts, and a time limit per test.
    @Suite(.daskCluster(workers: 2), .serialized, .timeLimit(.minutes(1)))
    struct DaskBackendTests {
        var cluster: DaskTestCluster { DaskTestCluster.current! }
        var dask: Backend { .dask(scheduler: cluster.scheduler, options: DaskOptions(noWorkersTimeout: .seconds(20))) }

        @Test func resultsArriveInInputOrder() throws {
            let squares = try Parallel(jobs: 2, backend: dask).run((0..<300).map { Square(value: $0) })
            #expect(squares == (0..<300).map { $0 * $0 })
            let probes = try Parallel(jobs: 2, backend: dask, batchSize: .fixed(1)).run((0..<8).map { WhereAmI(index: $0) })
            #expect(probes.allSatisfy { $0.pid != getpid() && $0.parent != getpid() })  // under a Dask worker
            #expect(probes.allSatisfy { $0.workerVariable == nil })  // the hook cleared it
            #expect(Set(probes.map(\.pid)).count <= 2)  // one long-lived Swift worker per Dask worker
        }

        @Test func asyncAndStreamingCalls() async throws {
            let parallel = Parallel(jobs: 2, backend: dask)
            #expect(try await parallel.run([Square]()) == [])
            var streamed: [Int: Int] = [:]
            for try await (index, value) in parallel.stream((0..<20).map { Square(value: $0) }, order: .completion) {
                streamed[index] = value
            }
            #expect(streamed.count == 20 && streamed[7] == 49)
        }

        @Test func codableErrorsArriveAsThemselvesOthersAsRemoteTaskError() throws {
            let parallel = Parallel(jobs: 2, backend: dask)
            #expect(throws: ModelError(reason: "bad input", index: 3)) {
                try parallel.run((0..<5).map { Faulty(index: $0, failure: $0 == 3 ? .throwCodable : .none) })
            }
            #expect { try parallel.run([Faulty(index: 0, failure: .throwOpaque)]) } throws: { error in
                guard let error = error as? RemoteTaskError else { return false }
                return error.taskIndex == 0 && error.stage == .running && error.errorDescription == "opaque failure"
            }
        }

        @Test func aTaskThatTrapsItsSwiftWorkerFailsAlone() throws {
            let tasks = (0..<6).map { Faulty(index: $0, failure: $0 == 2 ? .trap : .none) }
            let outcomes = Parallel(jobs: 2, backend: dask, batchSize: .fixed(3)).results(tasks)
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
            // The plugin replaced the Swift worker.
            #expect(try Parallel(jobs: 2, backend: dask).run((0..<4).map { Square(value: $0) }) == [0, 1, 4, 9])
        }

        /// The flake once seen after a rebuild: a call that failed fast left a Dask task running;
        /// the next call on the same (pooled) bridge reused its submission id, so it received the
        /// old task's late result (and Dask handed back the old future for the reused key).
        @Test func aFailedCallsLateResultsDoNotReachTheNextCall() throws {
            let parallel = Parallel(jobs: 2, backend: dask, batchSize: .fixed(1))
            for _ in 0..<3 {
                #expect(throws: ModelError(reason: "step failed", index: 1)) {
                    try parallel.run([Step(index: 0, seconds: 0.3, fails: false), Step(index: 1, seconds: 0, fails: true)])
                }
                #expect(try parallel.run((0..<4).map { Square(value: $0) }) == [0, 1, 4, 9])
                #expect { try parallel.run([Faulty(index: 0, failure: .throwOpaque)]) } throws: { error in
                    (error as? RemoteTaskError)?.errorDescription == "opaque failure"
                }
            }
        }

        @Test func closuresAreRejected() {
            #expect { try Parallel(jobs: 2, backend: dask).map(0..<3) { $0 } } throws: { error in
                (error as? ParallelError)?.code == .unsupportedTask
            }
        }

        @Test func timeoutKillsTheSwiftWorker() throws {
            let start = ContinuousClock.now
            let parallel = Parallel(jobs: 2, backend: dask, batchSize: .fixed(1), timeout: .seconds(1))
            #expect { try parallel.run([Nap(index: 0, seconds: 0.01), Nap(index: 1, seconds: 1_000)]) } throws: { error in
                (error as? ParallelError)?.code == .timeout && (error as? ParallelError)?.taskIndex == 1
            }
            #expect(ContinuousClock.now - start < .seconds(10))
            #expect(try Parallel(jobs: 2, backend: dask).run([Square(value: 5)]) == [25])
        }

        @Test func largeArgumentsGoThroughScatter() throws {
            let blob = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0) }
            let expected = blob.reduce(0) { $0 &+ Int($1) }
            let sums = try Parallel(jobs: 2, backend: dask, batchSize: .fixed(1)).run([Checksum(bytes: blob), Checksum(bytes: blob)])
            #expect(sums == [expected, expected])
        }

        @Test func killingOneDaskWorkerMidRunLosesNoResult() async throws {
            let cluster = self.cluster
            let parallel = Parallel(jobs: 2, backend: dask)
            let tasks = (0..<300).map { Nap(index: $0, seconds: 0.02) }
            async let results = parallel.run(tasks)
            try await Task.sleep(for: .seconds(1.5))
            cluster.killWorker(1)
            #expect(try await results == Array(0..<300))
            try cluster.startWorker(1)
        }

        @Test func allWorkersGoneIsAClearErrorWithinTheTimeout() async throws {
            let cluster = self.cluster
            let backend = Backend.dask(scheduler: cluster.scheduler, options: DaskOptions(noWorkersTimeout: .seconds(3)))
            _ = try await Parallel(jobs: 2, backend: backend).run([Square(value: 1)])  // the bridge is up
            let tasks = (0..<200).map { Nap(index: $0, seconds: 0.05) }
            async let results = Parallel(jobs: 2, backend: backend).run(tasks)
            try await Task.sleep(for: .seconds(1))
            cluster.killWorker(1)
            cluster.killWorker(2)
            let killed = ContinuousClock.now
            do {
                _ = try await results
                Issue.record("the call succeeded without workers")
            } catch let error as DaskError {
                #expect(error.code == .noWorkers, "\(error)")
                #expect(error.message.contains("no workers"))
            }
            #expect(ContinuousClock.now - killed < .seconds(10))
            try cluster.startWorker(1)
            try cluster.startWorker(2)
        }

        @Test func unreachableSchedulerFailsQuickly() throws {
            let start = ContinuousClock.now
            let backend = Backend.dask(scheduler: "tcp://127.0.0.1:1", options: DaskOptions(connectTimeout: .seconds(2)))
            #expect { try Parallel(jobs: 2, backend: backend).run([Square(value: 1)]) } throws: { error in
                (error as? DaskError)?.code == .schedulerUnreachable && "\(error)".contains("tcp://127.0.0.1:1")
            }
            #expect(ContinuousClock.now - start < .seconds(20))
        }

        @Test func missingPythonOrDaskSaysWhatToInstall() throws {
            let missing = Backend.dask(scheduler: cluster.scheduler, options: DaskOptions(python: "/nonexistent/python3"))
            #expect { try Parallel(jobs: 2, backend: missing).run([Square(value: 1)]) } throws: { error in
                (error as? DaskError)?.code == .pythonUnavailable && "\(error)".contains("pip install")
            }
            // A real Python without its site-packages: it cannot import distributed.
            try withTemporaryDirectory { directory in
                let wrapper = directory.appending("python-without-site").string
                let python = try #require(findExecutable("python3"))
                try "#!/bin/sh\nexec \(python) -S \"$@\"\n".write(toFile: wrapper, atomically: true, encoding: .utf8)
                try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: wrapper)
                let backend = Backend.dask(scheduler: cluster.scheduler, options: DaskOptions(python: wrapper))
                #expect { try Parallel(jobs: 2, backend: backend).run([Square(value: 1)]) } throws: { error in
                    (error as? DaskError)?.code == .distributedUnavailable && "\(error)".contains("pip install 'dask[distributed]==")
                }
            }
        }

        @Test func aBridgeLeavesNothingRunning() throws {
            _ = try Parallel(jobs: 2, backend: dask).run([Square(value: 2)])
            BridgePool.shutDownAll()
            let bridges = childCommandLines().filter { $0.contains("dask_bridge") }
            #expect(bridges.isEmpty, "left running: \(bridges)")
        }
    }

    /// A cluster of its own, because losing the scheduler ends its workers too.
    @Suite(.daskCluster(workers: 1), .timeLimit(.minutes(1)))
    struct DaskSchedulerLossTests {
        @Test func losingTheSchedulerMidRunIsAClearError() async throws {
            let cluster = try #require(DaskTestCluster.current)
            let backend = Backend.dask(scheduler: cluster.scheduler, options: DaskOptions(connectTimeout: .seconds(3)))
            _ = try await Parallel(jobs: 2, backend: backend).run([Square(value: 1)])  // the bridge is up
            async let results = Parallel(jobs: 2, backend: backend).run((0..<200).map { Nap(index: $0, seconds: 0.05) })
            try await Task.sleep(for: .seconds(1))
            cluster.killScheduler()
            let killed = ContinuousClock.now
            do {
                _ = try await results
                Issue.record("the call succeeded without a scheduler")
            } catch let error as DaskError {
                #expect(error.code == .schedulerLost, "\(error)")
            }
            #expect(ContinuousClock.now - killed < .seconds(15))
            // The broken bridge is not reused: the next call fails cleanly too, and quickly.
            #expect(throws: DaskError.self) { try Parallel(jobs: 2, backend: backend).run([Square(value: 2)]) }
        }
    }

}

/// Command lines of this process's live children.
func childCommandLines() -> [String] { liveChildren(of: getpid()).map(\.commandLine) }

/// The live (not zombie) children of `parent`, with their command lines.
func liveChildren(of parent: Int32) -> [(pid: Int32, commandLine: String)] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { Int32($0) }.compactMap { pid in
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 2, fields[0] != "Z", Int32(fields[1]) == parent else { return nil }
        let data = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
        return (pid, String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self))
    }
}
