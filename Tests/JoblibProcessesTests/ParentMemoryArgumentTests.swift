import Foundation
import JoblibCoding
import JoblibParallel
import JoblibSystem
import Testing
@testable import JoblibProcesses

// Task types at file scope: workers find them by name.

/// Sums a `[Double]` and an `[Int32]` argument and says which worker did, and how many arrays
/// that worker had read from its parent's memory by then.
struct SumTwoArrays: ParallelTask {
    var doubles: [Double]
    var integers: [Int32]
    var part: Int
    func run() throws -> ParentReadReport {
        ParentReadReport(
            pid: getpid(), parentReads: MappedArena.parentReadCount.load(ordering: .relaxed),
            doubles: doubles.reduce(0, +), integers: integers.reduce(0) { $0 + Int($1) })
    }
}

struct ParentReadReport: Codable, Sendable, Equatable {
    var pid: Int32
    var parentReads: Int
    var doubles: Double
    var integers: Int
}

/// Decodes its array, then (when `dies`) kills its own worker with SIGKILL before the task runs:
/// a worker that dies while it takes its arguments in.
struct DiesWhileDecoding: ParallelTask {
    var values: [Double]
    var dies: Bool
    init(values: [Double], dies: Bool) {
        self.values = values
        self.dies = dies
    }
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        dies = try container.decode(Bool.self, forKey: .dies)
        values = try container.decode([Double].self, forKey: .values)
        if dies { kill(getpid(), SIGKILL) }
    }
    func run() throws -> Double { values.reduce(0, +) }
}

/// Sums its array, or throws (fail-fast stops the call).
struct SumOrFail: ParallelTask {
    var values: [Double]
    var fails: Bool
    func run() throws -> Double {
        if fails { throw ModelError(reason: "fails", index: 0) }
        usleep(20_000)
        return values.reduce(0, +)
    }
}

/// Sums its array and says how many arrays its worker has decoded into a spare's storage, and
/// whether the worker holds a spare now.
struct SumAndCountReuse: ParallelTask {
    var values: [Double]
    func run() throws -> ReuseReport {
        ReuseReport(
            pid: getpid(), reused: MappedArena.reusedCount.load(ordering: .relaxed), holdsSpare: MappedArena.holdsSpare,
            sum: values.reduce(0, +), first: values.first ?? -1)
    }
}

struct ReuseReport: Codable, Sendable, Equatable {
    var pid: Int32
    var reused: Int
    var holdsSpare: Bool
    var sum: Double
    var first: Double
}

/// Reads a bulk array element by element (an unkeyed container), as a type of one's own may.
struct ElementByElement: Decodable, Equatable {
    var values: [Double] = []
    init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        while !container.isAtEnd { values.append(try container.decode(Double.self)) }
    }
}

private func openArgumentFiles() -> Int {
    let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    return open.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)") }
        .filter { $0.contains("joblib-arguments") }.count
}

/// Waits up to 2 s for `condition` (drivers release a call's memory a moment after it returns).
private func settles(_ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(2)
    while !condition() && Date() < deadline { usleep(5_000) }
    return condition()
}

extension WorkerProcessSuites {
@Suite(.serialized, .timeLimit(.minutes(2))) struct ParentMemoryArgumentTests {
    static let doubles = (0..<2_000_000).map { Double($0 % 1000) }  // 16 MB
    static let integers = (0..<1_000_000).map { Int32($0 % 77) - 30 }  // 4 MB

    /// An `[T]` argument stays in the parent's memory for a worker that may read it; the same
    /// arena writes it into its file, once, for one that may not.
    @Test func anArrayStaysInPlaceUnlessAWorkerMayNotReadIt() throws {
        let arena = SharedArgumentArena(threshold: .megabytes(1))
        defer { arena.close() }
        _ = try BinaryEncoder().encode(SumTwoArrays(doubles: Self.doubles, integers: Self.integers, part: 0), sections: arena)
        let inPlace = try #require(try arena.reference(readingParentMemory: true))
        #expect(inPlace.sections.count == 2 && inPlace.sections.allSatisfy { $0.address != nil })
        #expect(!arena.ownsFile, "nothing is written for workers that read the arrays in place")
        let inFile = try #require(try arena.reference(readingParentMemory: false))
        #expect(inFile.sections.allSatisfy { $0.address == nil } && arena.ownsFile)
        let again = try #require(try arena.reference(readingParentMemory: false))
        #expect(again.sections.map(\.offset) == inFile.sections.map(\.offset), "written once")
        // Both decode to the same values (this process reading its own memory plays the parent).
        for reference in [inPlace, inFile] {
            let encoded = try BinaryEncoder().encode(SumTwoArrays(doubles: Self.doubles, integers: Self.integers, part: 0), sections: arena)
            let mapped = try MappedArena(reference, readableProcess: getpid())
            let before = MappedArena.parentReadCount.load(ordering: .relaxed)
            let task = try encoded.withUnsafeBytes { try BinaryDecoder().decode(SumTwoArrays.self, from: $0, sections: mapped) }
            #expect(task.doubles == Self.doubles && task.integers == Self.integers)
            let reads = MappedArena.parentReadCount.load(ordering: .relaxed) - before
            #expect(reads == (reference.sections[0].address != nil ? 2 : 0))
        }
    }

    /// Small arrays and `NDArray`s keep the memory file: the first costs less to write than to
    /// read per worker, the second is mapped by workers without any copy.
    @Test func smallArraysAndNDArraysKeepTheMemoryFile() throws {
        let arena = SharedArgumentArena(threshold: .bytes(1024))
        defer { arena.close() }
        _ = try BinaryEncoder().encode([Double](repeating: 1, count: 1000), sections: arena)
        let reference = try #require(try arena.reference(readingParentMemory: true))
        #expect(reference.sections.count == 1 && reference.sections[0].address == nil && arena.ownsFile)
    }

    /// What a worker is told is checked before anything is allocated or read, and a read that
    /// fails or comes back short fails the decoding with a clear error, never a trap or wrong data.
    @Test func aWorkerChecksWhatItIsToldToRead() throws {
        let values = [Double](repeating: 2, count: 16_384)  // 128 KiB: 32 pages
        let arena = SharedArgumentArena(threshold: .bytes(1024))
        defer { arena.close() }
        let encoded = try BinaryEncoder().encode(values, sections: arena)
        let good = try #require(try arena.reference(readingParentMemory: true))
        func decode(_ reference: ArenaReference) throws -> [Double] {
            let mapped = try MappedArena(reference, readableProcess: getpid())
            return try encoded.withUnsafeBytes { try BinaryDecoder().decode([Double].self, from: $0, sections: mapped) }
        }
        #expect(try decode(good) == values)
        // Another process than the parent.
        var other = good
        other.pid = 1
        #expect(throws: ProtocolError.self) { try decode(other) }
        // More than the machine holds, or a range that wraps around.
        var huge = good
        huge.sections[0].byteCount = Int.max / 2
        #expect(throws: ProtocolError.self) { try decode(huge) }
        var wraps = good
        wraps.sections[0].address = UInt64.max - 100
        #expect(throws: ProtocolError.self) { try decode(wraps) }
        // Nothing mapped there.
        var unmapped = good
        unmapped.sections[0].address = 4096
        #expect { try decode(unmapped) } throws: { "\($0)".contains("could not read shared array") }
        // A range whose end is not mapped (the kernel does not split one range: no partial read).
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let region = try #require(mmap(nil, 32 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        #expect(region != MAP_FAILED)
        munmap(region + 31 * page, page)
        defer { munmap(region, 31 * page) }
        var short = good
        short.sections[0].address = UInt64(UInt(bitPattern: region))
        #expect { try decode(short) } throws: { "\($0)".contains("shared array 0") }
        // A refused read (EPERM, as a container profile gives) is an error too.
        let refused = InjectedSystemCallFailures([("process_vm_readv", .notPermitted)])
        #expect { try refused.during { try decode(good) } } throws: { "\($0)".contains("could not read shared array") }
    }

    /// A decoder that reads a section in place (element by element) gets a copy of its own.
    @Test func anArrayReadInPlaceIsCopiedInFirst() throws {
        let values = (0..<20_000).map(Double.init)
        let arena = SharedArgumentArena(threshold: .bytes(1024))
        defer { arena.close() }
        let encoded = try BinaryEncoder().encode(values, sections: arena)
        let reference = try #require(try arena.reference(readingParentMemory: true))
        #expect(reference.sections.first?.address != nil)
        let mapped = try MappedArena(reference, readableProcess: getpid())
        let decoded = try encoded.withUnsafeBytes { try BinaryDecoder().decode(ElementByElement.self, from: $0, sections: mapped) }
        #expect(decoded.values == values)
    }

    /// Workers read large `[Double]` and `[Int32]` arguments from the parent: right sums, no
    /// memory file made, and nothing left open.
    @Test func workersReadLargeArgumentsFromTheParentsMemory() throws {
        let inPlace = SharedArgumentArena.inPlaceReferences.load(ordering: .relaxed)
        let inFile = SharedArgumentArena.fileReferences.load(ordering: .relaxed)
        let tasks = (0..<8).map { SumTwoArrays(doubles: Self.doubles, integers: Self.integers, part: $0) }
        let reports = try Parallel(jobs: 2, backend: .processes, batchSize: .fixed(2)).run(tasks)
        let expected = (Self.doubles.reduce(0, +), Self.integers.reduce(0) { $0 + Int($1) })
        #expect(reports.allSatisfy { $0.doubles == expected.0 && $0.integers == expected.1 })
        #expect(reports.allSatisfy { $0.parentReads > 0 }, "a worker did not read the parent's memory: \(reports)")
        #expect(SharedArgumentArena.inPlaceReferences.load(ordering: .relaxed) > inPlace)
        #expect(SharedArgumentArena.fileReferences.load(ordering: .relaxed) == inFile)
        #expect(settles { openArgumentFiles() == 0 })
    }

    /// Workers whose probe fails (as where the kernel refuses the read) get the memory file
    /// instead, with the same results and nothing surfacing.
    @Test func workersThatMayNotReadTheParentGetTheMemoryFile() throws {
        ParentMemoryProbe.failsForTesting.store(true, ordering: .relaxed)
        defer { ParentMemoryProbe.failsForTesting.store(false, ordering: .relaxed) }
        // Settings of its own: a pool of fresh workers started with the failing probe.
        let parallel = Parallel(jobs: 2, backend: .processes(startTimeout: .seconds(13)), batchSize: .fixed(2))
        let inPlace = SharedArgumentArena.inPlaceReferences.load(ordering: .relaxed)
        let inFile = SharedArgumentArena.fileReferences.load(ordering: .relaxed)
        let tasks = (0..<8).map { SumTwoArrays(doubles: Self.doubles, integers: Self.integers, part: $0) }
        let reports = try parallel.run(tasks)
        let expected = (Self.doubles.reduce(0, +), Self.integers.reduce(0) { $0 + Int($1) })
        #expect(reports.allSatisfy { $0.doubles == expected.0 && $0.integers == expected.1 })
        #expect(reports.allSatisfy { $0.parentReads == 0 }, "a worker read the parent's memory: \(reports)")
        #expect(SharedArgumentArena.inPlaceReferences.load(ordering: .relaxed) == inPlace)
        #expect(SharedArgumentArena.fileReferences.load(ordering: .relaxed) > inFile)
        #expect(settles { openArgumentFiles() == 0 })
    }

    /// A worker copies the next call's array of the same size into the storage of the last
    /// call's copy (no fresh pages), with the new call's contents; an array of another size
    /// (before its copy is made), or a few seconds idle, drops that storage.
    @Test func aWorkerReusesTheLastCallsArrayStorageForTheSameSize() throws {
        // One worker (a pool of its own), so that every call lands on it.
        let parallel = Parallel(jobs: 1, backend: .processes(startTimeout: .seconds(17)), batchSize: .fixed(1))
        func call(_ value: Double, count: Int = 300_000) throws -> [ReuseReport] {
            try parallel.run((0..<3).map { _ in SumAndCountReuse(values: [Double](repeating: value, count: count)) })
        }
        let first = try call(1)
        let second = try call(2)
        #expect(second.allSatisfy { $0.sum == 600_000 && $0.first == 2 }, "the new call's contents: \(second)")
        #expect(second[0].reused == first[0].reused + 1, "the second call did not reuse the first one's storage")
        let other = try call(3, count: 200_000)
        #expect(other.allSatisfy { $0.sum == 600_000 && $0.first == 3 })
        #expect(other[0].reused == second[0].reused, "an array of another size reused the storage")
        #expect(other.allSatisfy { !$0.holdsSpare }, "the spare outlived the copy of another large array")
        // Idle: the spare goes.
        #expect(try call(4, count: 0)[0].holdsSpare)
        _ = try call(5)
        Thread.sleep(forTimeInterval: Double(MappedArena.spareIdleLimit.components.seconds) + 0.5)
        #expect(try !call(6, count: 0)[0].holdsSpare, "an idle worker kept its spare")
    }

    /// A worker killed while it takes its arguments in fails that task alone; the others get
    /// their sums, the worker is replaced, and nothing is left open or running.
    @Test func aWorkerKilledWhileReadingFailsOnlyItsTask() throws {
        let values = [Double](repeating: 1, count: 1_000_000)
        let parallel = Parallel(jobs: 2, backend: .processes, batchSize: .fixed(1))
        _ = try parallel.run([SumOrFail(values: [], fails: false)])
        let workers = childProcesses().count
        let outcomes = parallel
            .results((0..<6).map { DiesWhileDecoding(values: values, dies: $0 == 3) })
        for index in [0, 1, 2, 4, 5] { #expect((try? outcomes[index].get()) == 1_000_000, "task \(index)") }
        #expect {
            try outcomes[3].get()
        } throws: { ($0 as? ParallelError)?.code == .workerDied }
        #expect(settles { openArgumentFiles() == 0 })
        #expect(settles { childProcesses().count <= workers }, "workers alive: \(childProcesses()), were \(workers)")
    }

    /// A call that fails fast (or is cancelled) while workers read its arrays leaves nothing
    /// open or running.
    @Test func aFailedCallLeavesNothingBehind() async throws {
        let values = [Double](repeating: 1, count: 2_000_000)
        let parallel = Parallel(jobs: 2, backend: .processes, batchSize: .fixed(1))
        _ = try await parallel.run([SumOrFail(values: [], fails: false)])
        let workers = childProcesses().count
        #expect(throws: ModelError.self) {
            try parallel.run((0..<12).map { SumOrFail(values: values, fails: $0 == 5) })
        }
        let call = Task { try await parallel.run((0..<40).map { _ in SumOrFail(values: values, fails: false) }) }
        try await Task.sleep(for: .milliseconds(60))
        call.cancel()
        _ = await call.result
        #expect(settles { openArgumentFiles() == 0 })
        #expect(settles { childProcesses().count <= workers }, "workers alive: \(childProcesses()), were \(workers)")
        #expect(try await parallel.run([SumOrFail(values: values, fails: false)]) == [2_000_000])
    }
}
}
