import Synchronization
import Testing
@testable import JoblibParallel
import JoblibTestSupport

/// The engine's own mechanisms, beyond what the conformance suite sees from outside.
@Suite(.serialized, .timeLimit(.minutes(1))) struct EngineTests {
    /// Idle workers split busy batches: every task still runs exactly once, and the report
    /// shows more batches than the fixed size alone would make.
    @Test func splitBatchesRunEveryTaskOnce() throws {
        let runs = Mutex([Int](repeating: 0, count: 2_000))
        let reports = Mutex<[ParallelReport]>([])
        let parallel = Parallel(jobs: 2, backend: .threads, batchSize: .fixed(1_000), report: { report in
            reports.withLock { $0.append(report) }
        })
        let output = try parallel.map(0..<2_000) { index -> Int in
            runs.withLock { $0[index] += 1 }
            if index == 0 { sleepMilliseconds(300) }  // the first batch's owner is stuck here
            return index
        }
        #expect(output == Array(0..<2_000))
        #expect(runs.withLock { $0 }.allSatisfy { $0 == 1 })
        let report = try #require(reports.withLock { $0 }.first)
        #expect(report.workers.reduce(0) { $0 + $1.batches } > 2, "\(report)")
        #expect(report.workers.reduce(0) { $0 + $1.tasks } == 2_000)
    }

    /// A closure call reads a lazy sequence as workers ask for work.
    @Test func closuresReadTheirInputLazily() throws {
        let inputs = CountingSequence(count: 3_000) { $0 }
        let reads = inputs.reads
        let readAtFirstProgress = Mutex<Int?>(nil)
        let parallel = Parallel(jobs: 2, backend: .threads, progress: { completed, total, _ in
            readAtFirstProgress.withLock { $0 = $0 ?? reads.count }
            #expect(total >= completed)
        })
        let output = try parallel.map(inputs) { index -> Int in
            sleepMilliseconds(0.2)
            return index * 2
        }
        #expect(output == (0..<3_000).map { $0 * 2 })
        #expect((readAtFirstProgress.withLock { $0 } ?? 3_000) < 1_500)
    }

    /// From `verbose: 11` the report is printed after the last progress line.
    @Test func theReportIsPrintedAtHighVerbosity() throws {
        let recorder = TextRecorder()
        _ = try Parallel(jobs: 2, backend: .threads, verbose: 11, progressOutput: recorder.output).map(0..<100) { $0 }
        let lines = recorder.lines
        #expect(lines.contains { $0.hasPrefix("[Parallel(jobs=2)]: Report: 100 tasks on threads in ") }, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("[Parallel(jobs=2)]: Report: worker 0: ") })
        let quiet = TextRecorder()
        _ = try Parallel(jobs: 2, backend: .threads, verbose: 10, progressOutput: quiet.output).map(0..<100) { $0 }
        #expect(!quiet.lines.contains { $0.contains("Report:") })
    }

    /// `async` bodies on a custom backend that runs batches in its own thread (not through
    /// `runWorker()`): the thread waits while a task runs each batch.
    @Test func asyncBodiesOnABackendThatRunsBatchesItself() async throws {
        let log = SizeLog()
        let backend = Backend(name: "recording") { RecordingBackend(log: log) }
        let output = try await Parallel(jobs: 2, backend: backend, batchSize: .fixed(4)).map(0..<10) { index async -> Int in
            await Task.yield()
            return index * 2
        }
        #expect(output == (0..<10).map { $0 * 2 })
        #expect(log.sizes.withLock { $0 } == [4, 4, 2])
    }

    /// A call rejected before it starts still reports, once, as failed.
    @Test func aRejectedCallReports() {
        let reports = Mutex<[ParallelReport]>([])
        let parallel = Parallel(jobs: 0, report: { report in reports.withLock { $0.append(report) } })
        #expect(throws: ParallelError.self) { try parallel.map(0..<3) { $0 } }
        #expect(reports.withLock { $0 }.map(\.failed) == [true])
    }

    /// The batch's claims word: running and splitting never take the same task.
    @Test func claimsAndSplitsPartitionTheBatch() {
        let job = ParallelJob(
            source: InputSource.reading(0..<100), workers: 2, batchSize: .fixed(100), timeout: nil,
            nestedConfiguration: ParallelConfiguration(),
            reporter: ProgressReporter(verbose: 0, jobsLabel: "2", total: 100, handler: nil, output: nil),
            pollsTaskCancellation: false, recorder: ReportRecorder(handler: nil, verbose: 0), runBatch: { _ in 0 })
        let batch = ParallelBatch(job: job, indices: 10..<20, handedOutAt: 0, worker: 0, inputs: nil)
        #expect(batch.split() == nil, "a batch that does not run here cannot be split")
        batch.run()  // marks it as running here; the runner above claims nothing
        #expect(batch.claimNext() == 10 && batch.claimNext() == 11)
        #expect(batch.split() == 16..<20)  // 8 unstarted: the second half
        #expect(batch.split() == 14..<16)
        #expect(batch.split() == 13..<14)
        #expect(batch.split() == 12..<13)  // one left: it goes
        #expect(batch.split() == nil && batch.claimNext() == nil)
        #expect(batch.wasSplit)
    }
}

/// A task-local value of the caller's, for `async` bodies to read.
enum CallTrace {
    @TaskLocal static var id: String?
}

extension EngineTests {
    /// `async` bodies run in child tasks of the caller: they see its task-local values.
    @Test func asyncBodiesSeeTheCallersTaskLocals() async throws {
        let seen = try await CallTrace.$id.withValue("call-7") {
            try await Parallel(jobs: 2, backend: .threads).map(0..<4) { _ async -> String? in CallTrace.id }
        }
        #expect(seen == Array(repeating: "call-7", count: 4))
    }
}
