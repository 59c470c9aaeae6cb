import Foundation
import JoblibCoding
import JoblibParallel
import JoblibPersistence
import JoblibSystem
import SystemPackage
import Testing
@testable import JoblibProcesses

// Task types at file scope: workers find them by name.

/// Returns `count` doubles that depend on `index` (a large result from 131,072: 1 MB).
struct MakeDoubles: ParallelTask {
    var index: Int
    var count: Int
    /// Arm this fault in the worker before returning (tests of deaths while sending).
    var fault: UInt8 = 0
    /// Run at least this long, so that each result goes out in a frame of its own.
    var milliseconds: UInt32 = 0
    /// Throw instead of returning.
    var fails = false
    func run() throws -> [Double] {
        if milliseconds > 0 { usleep(milliseconds * 1000) }
        if fails { throw ModelError(reason: "fails", index: index) }
        if let fault = ResultFileFault(rawValue: fault) { ResultFileFault.arm(fault) }
        return (0..<count).map { Double($0 % 1000) + Double(index) * 1e6 }
    }
}

/// Returns an `NDArray` that depends on `index`, made in ordinary memory or in shared memory.
struct MakeNDArray: ParallelTask {
    var index: Int
    var count: Int
    var shared = false
    func run() throws -> NDArray<Double> {
        var array = shared ? try NDArray<Double>(sharedShape: [count], repeating: 0) : NDArray(shape: [count], [Double](repeating: 0, count: count))
        for i in 0..<count { array[i] = Double(i % 100) + Double(index) }
        return array
    }
}

/// Reports the worker's pid (to inspect its descriptors and mappings afterwards).
struct WorkerPID: ParallelTask {
    var index: Int
    func run() throws -> Int32 { getpid() }
}

func expectedDoubles(_ index: Int, _ count: Int) -> [Double] { (0..<count).map { Double($0 % 1000) + Double(index) * 1e6 } }

/// What `pid` has open and mapped of results' memory files.
private func resultFiles(of pid: Int32) -> (open: Int, mapped: Int) {
    let directory = "/proc/\(pid)/fd"
    let open = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
        .compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\($0)") }
        .filter { $0.contains("joblib-results") }.count
    let maps = (try? String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8)) ?? ""
    return (open, maps.split(separator: "\n").filter { $0.contains("joblib-results") }.count)
}

private func descriptorCount() -> Int { ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).count }

/// Waits up to 2 s for `condition` (workers close what they sent a moment after the call).
private func settle(_ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(2)
    while !condition() && Date() < deadline { usleep(5_000) }
    return condition()
}

extension WorkerProcessSuites {
@Suite(.serialized, .timeLimit(.minutes(2))) struct SharedResultTests {
    @Test func largeArrayResultsComeBackThroughSharedMemory() throws {
        let before = ReceivedResultSections.adoptedFiles.load(ordering: .relaxed)
        let outputs = try Parallel(jobs: 2, backend: .processes).run((0..<4).map { MakeDoubles(index: $0, count: 300_000) })
        for (index, output) in outputs.enumerated() { #expect(output == expectedDoubles(index, 300_000)) }
        #expect(ReceivedResultSections.adoptedFiles.load(ordering: .relaxed) > before)
        #expect(settle { resultFiles(of: getpid()) == (0, 0) }, "\(resultFiles(of: getpid()))")
    }

    @Test func resultsBelowTheThresholdStayInline() throws {
        let before = ReceivedResultSections.adoptedFiles.load(ordering: .relaxed)
        // 800 KB under the default 1 MB, and 2.4 MB under a 4 MB threshold.
        let small = try Parallel(jobs: 2, backend: .processes).run((0..<4).map { MakeDoubles(index: $0, count: 100_000) })
        let underLimit = try Parallel(jobs: 2, backend: .processes(maxNBytes: .megabytes(4)))
            .run((0..<2).map { MakeDoubles(index: $0, count: 300_000) })
        #expect(small == (0..<4).map { expectedDoubles($0, 100_000) })
        #expect(underLimit == (0..<2).map { expectedDoubles($0, 300_000) })
        #expect(ReceivedResultSections.adoptedFiles.load(ordering: .relaxed) == before)
    }

    @Test(arguments: [false, true])
    func largeNDArrayResultsAreAdoptedWithoutACopy(madeShared: Bool) throws {
        let outputs = try Parallel(jobs: 2, backend: .processes)
            .run((0..<4).map { MakeNDArray(index: $0, count: 200_000, shared: madeShared) })
        for (index, output) in outputs.enumerated() {
            #expect(output.isInSharedMemory, "result \(index) was copied out of shared memory")
            #expect(output.shape == [200_000])
            #expect(output[199_999] == Double(199_999 % 100 + index) && output[5] == Double(5 + index))
        }
        // Usable like any array: mutated in place (it is writable), and handed to workers again.
        var first = outputs[0]
        first[0] = 42
        #expect(first[0] == 42 && outputs[0][0] == 0, "mutating a copy changed the original")
        let sums = try Parallel(jobs: 2, backend: .processes).run((0..<2).map { SumArraySlice(values: outputs[1], part: $0, parts: 2) })
        var expected: [Double] = [0, 0]
        for i in 0..<200_000 { expected[i / 100_000] += Double(i % 100 + 1) }
        #expect(sums.map(\.sum) == expected)
    }

    @Test func aDroppedNDArrayResultReleasesItsMemory() throws {
        do {
            let outputs = try Parallel(jobs: 1, backend: .processes).run([MakeNDArray(index: 0, count: 200_000)])
            #expect(resultFiles(of: getpid()).open == 1)
            #expect(outputs[0][1] == 1)
        }
        // The call's driver thread may hold the finished job (and its outcomes) a moment longer
        // than the caller: the memory goes with the last reference, not necessarily at return.
        let deadline = ContinuousClock.now + .seconds(5)
        while resultFiles(of: getpid()) != (0, 0), ContinuousClock.now < deadline { usleep(10_000) }
        let released = resultFiles(of: getpid()) == (0, 0)
        #expect(released, "still open and mapped: \(resultFiles(of: getpid()))")
    }

    /// A worker killed while it sends a large result: the task it was on fails alone (its
    /// result died with it), the others' results are whole, and nothing of the memory file is
    /// left open or mapped in this process or in the replacement.
    @Test(arguments: [ResultFileFault.filesWritten, .filesPassed, .frameHalfSent])
    func aWorkerKilledWhileSendingALargeResultLeaksNothing(fault: ResultFileFault) throws {
        let parallel = Parallel(jobs: 1, backend: .processes, batchSize: .fixed(4))
        let warm = try parallel.run([WorkerPID(index: 0)])
        let descriptors = descriptorCount()
        // 30 ms each: every result goes out in a frame of its own (the worker flushes every 20 ms).
        let tasks = (0..<4).map { MakeDoubles(index: $0, count: 500_000, fault: $0 == 1 ? fault.rawValue : 0, milliseconds: 30) }
        let outcomes = parallel.results(tasks)
        for index in [0, 2, 3] { #expect((try? outcomes[index].get()) == expectedDoubles(index, 500_000), "task \(index)") }
        #expect(throws: ParallelError.self) { try outcomes[1].get() }
        let replacement = try parallel.run([WorkerPID(index: 0)])[0]
        #expect(replacement != warm[0], "the worker was not replaced")
        #expect(settle { resultFiles(of: getpid()) == (0, 0) && descriptorCount() == descriptors },
                "open: \(resultFiles(of: getpid())), descriptors \(descriptorCount()) (were \(descriptors))")
        #expect(settle { resultFiles(of: replacement) == (0, 0) })
    }

    /// Large results that the call does not take (it failed, or was cancelled, while results
    /// were coming) leave nothing open or mapped here or in the workers.
    @Test(arguments: [false, true])
    func largeResultsOfAStoppedCallLeakNothing(cancelled: Bool) async throws {
        let parallel = Parallel(jobs: 2, backend: .processes, batchSize: .fixed(20))
        let pids = Set(try await parallel.run((0..<4).map { WorkerPID(index: $0) }))
        // One worker fails (or the call is cancelled) after 300 ms; the other sends a large
        // result every 10 ms meanwhile.
        let tasks = (0..<40).map { MakeDoubles(index: $0, count: 200_000, milliseconds: $0 == 0 ? 300 : 10, fails: $0 == 0 && !cancelled) }
        if cancelled {
            let call = Task { try await parallel.run(tasks) }
            try await Task.sleep(for: .milliseconds(300))
            call.cancel()
            await #expect(throws: (any Error).self) { try await call.value }
        } else {
            await #expect(throws: ModelError.self) { try await parallel.run(tasks) }
        }
        #expect(settle { resultFiles(of: getpid()) == (0, 0) }, "\(resultFiles(of: getpid()))")
        let after = Set(try await parallel.run((0..<4).map { WorkerPID(index: $0) }))
        for pid in pids.union(after) where kill(pid, 0) == 0 {
            #expect(settle { resultFiles(of: pid) == (0, 0) }, "worker \(pid): \(resultFiles(of: pid))")
        }
    }

    /// The writer's side alone: large arrays go to the memory file (inline bytes stay small),
    /// small ones inline; the frame lists one file; without a writer (a bridge) nothing is out of line.
    @Test func outcomesNameTheirMemoryFiles() throws {
        var pending = PendingOutcomes<[Double]>()
        pending.succeed(0, [Double](repeating: 1, count: 200_000))
        pending.succeed(1, [1, 2, 3])
        let writer = ResultSectionWriter(threshold: 1 << 20)
        let batch = pending.take(nil, files: writer)
        #expect(batch.outputs.count < 200)
        #expect(batch.files?.fileCount == 1 && batch.files?.sections.count == 1)
        let (descriptors, files) = try #require(writer.files())
        let reader = try ReceivedResultSections(descriptors: [FileDescriptor(rawValue: dup(descriptors[0].rawValue))], files: files)
        writer.close()
        let decoded = decodeEach([[Double]].self, [Double].self, from: batch.outputs, count: 2, sections: reader)
        #expect(try decoded[0].get() == [Double](repeating: 1, count: 200_000))
        #expect(try decoded[1].get() == [1, 2, 3])

        var inline = PendingOutcomes<[Double]>()
        inline.succeed(0, [Double](repeating: 1, count: 200_000))
        let plain = inline.take()
        #expect(plain.files == nil && plain.outputs.count > 1_600_000)
        // Bridges (Dask, Ray) make their batches with this initialiser: their workers, whose task
        // channel is no socket of the driver's, never get a threshold, so they send no files.
        #expect(BatchMessage(typeName: "T", indices: [0], tasks: []).resultThreshold == nil)
    }

    /// When no memory file can be made, the outputs go inline instead of failing.
    @Test func outcomesGoInlineWhenNoMemoryFileCanBeMade() throws {
        var pending = PendingOutcomes<[Double]>()
        pending.succeed(0, [Double](repeating: 2, count: 200_000))
        let writer = ResultSectionWriter(threshold: 1 << 20)
        let failures = InjectedSystemCallFailures([("memfd_create", .noMemory), ("memfd_create", .noMemory)])
        let batch = failures.during { pending.take(nil, files: writer) }
        #expect(failures.injectedCount == 2)
        #expect(batch.files == nil && writer.files() == nil)
        #expect(batch.failed == [0])
        let decoded = decodeEach([[Double]].self, [Double].self, from: batch.outputs, count: 1)
        #expect(try decoded[0].get() == [Double](repeating: 2, count: 200_000))
    }

    /// A frame that lies about its files is refused, and the descriptors that came are closed.
    @Test func aFrameWhoseFilesDoNotMatchIsRefused() throws {
        let fd = try SharedMemoryFile.create(name: "joblib-results", size: 4096)
        let outside = ResultFiles(fileCount: 1, sections: [SectionEntry(number: 0, offset: 4000, byteCount: 200, fd: 0)])
        #expect(throws: ProtocolError.self) { try ReceivedResultSections(descriptors: [fd], files: outside) }
        let other = try SharedMemoryFile.create(name: "joblib-results", size: 4096)
        let tooMany = ResultFiles(fileCount: 2, sections: [])
        #expect(throws: ProtocolError.self) { try ReceivedResultSections(descriptors: [other], files: tooMany) }
        #expect(resultFiles(of: getpid()) == (0, 0))
    }
}
}
