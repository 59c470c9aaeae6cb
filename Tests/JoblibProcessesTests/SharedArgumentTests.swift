import Foundation
import JoblibCoding
import JoblibParallel
import JoblibPersistence
import Testing
@testable import JoblibProcesses

extension WorkerProcessSuites {
@Suite(.timeLimit(.minutes(2))) struct SharedArgumentTests {
    @Test func largeArraysAreStoredOnceOutOfLine() throws {
        let values = (0..<1_000_000).map(Double.init)  // 8 MB
        let arena = SharedArgumentArena(threshold: .megabytes(1))
        defer { arena.close() }
        let first = try BinaryEncoder().encode(SumSlice(values: values, part: 0, parts: 2), sections: arena)
        let second = try BinaryEncoder().encode(SumSlice(values: values, part: 1, parts: 2), sections: arena)
        #expect(first.count < 200 && second.count < 200)
        #expect((try arena.reference(readingParentMemory: false))?.sections.count == 1)
        // Small arrays stay inline.
        let small = try BinaryEncoder().encode(SumSlice(values: [1, 2], part: 0, parts: 1), sections: arena)
        #expect(small.count > 16)
        #expect((try arena.reference(readingParentMemory: false))?.sections.count == 1)
    }

    @Test func workersReadLargeArgumentsFromSharedMemory() throws {
        let values = (0..<2_000_000).map { Double($0 % 1000) }  // 16 MB
        let tasks = (0..<20).map { SumSlice(values: values, part: $0, parts: 20) }
        let sums = try Parallel(jobs: 2, backend: .processes).run(tasks)
        let expected = tasks.map { task in
            values[(task.part * 100_000)..<((task.part + 1) * 100_000)].reduce(0, +)
        }
        #expect(sums == expected)
        // The call's shared memory is released as its workers finish (a moment after it
        // returns): no memfd stays open here.
        func openMemfds() -> [String] {
            let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
            return open.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)") }
                .filter { $0.contains("joblib-arguments") }
        }
        let deadline = Date().addingTimeInterval(1)
        while !openMemfds().isEmpty && Date() < deadline { usleep(5_000) }
        #expect(openMemfds().isEmpty, "still open: \(openMemfds())")
    }

    /// Arrays made one by one from lazy input and dropped once their task ran: the allocator
    /// hands a new array the address of a freed one. Recognised by address alone, the new array
    /// would be taken for the old one and the worker would read the old contents.
    @Test func anArrayAtAFreedArraysAddressIsNotTakenForIt() throws {
        let tasks = (0..<40).lazy.map { SumSlice(values: [Double](repeating: Double($0), count: 300_000), part: 0, parts: 1) }
        let sums = try Parallel(jobs: 1, backend: .processes(maxNBytes: .megabytes(1)), batchSize: .fixed(1)).run(tasks)
        #expect(sums == (0..<40).map { Double($0) * 300_000 })
    }

    @Test func workersMapLargeNDArraysWithoutCopying() throws {
        let values = NDArray(shape: [1_000_000], (0..<1_000_000).map { Double($0 % 7) })
        let tasks = (0..<4).map { SumArraySlice(values: values, part: $0, parts: 4) }
        let results = try Parallel(jobs: 2, backend: .processes).run(tasks)
        #expect(results.allSatisfy { $0.mapped })
        let expected: [Double] = tasks.map { task in
            let range = (task.part * 250_000)..<((task.part + 1) * 250_000)
            return values[range].reduce(0, +)
        }
        #expect(results.map { $0.sum } == expected)
    }

    @Test func tasksOfOneCallShareOneDecodedCopy() throws {
        let values = (0..<500_000).map(Double.init)  // 4 MB
        let arena = SharedArgumentArena(threshold: .megabytes(1))
        defer { arena.close() }
        let encoded = try BinaryEncoder().encode(
            [SumSlice(values: values, part: 0, parts: 2), SumSlice(values: values, part: 1, parts: 2)], sections: arena)
        let mapped = try MappedArena(#require(try arena.reference(readingParentMemory: false)))
        let tasks = try encoded.withUnsafeBytes {
            try BinaryDecoder().decode([SumSlice].self, from: $0, sections: mapped)
        }
        #expect(tasks[0].values == values && tasks[1].values == values)
        let addresses = tasks.map { $0.values.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) } }
        #expect(addresses[0] == addresses[1], "the second task got its own copy")
        #expect(mapped.keptCount == 1)
        // The same arena in a later batch keeps the copy; another arena (the next call) does not.
        let again = try mapped.adopting(#require(try arena.reference(readingParentMemory: false)))
        #expect(again.keptCount == 1)
        let reused = try encoded.withUnsafeBytes { try BinaryDecoder().decode([SumSlice].self, from: $0, sections: again) }
        #expect(reused[0].values.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) } == addresses[0])
        let next = SharedArgumentArena(threshold: .megabytes(1))
        defer { next.close() }
        _ = try BinaryEncoder().encode(SumSlice(values: values.map { -$0 }, part: 0, parts: 1), sections: next)
        let fresh = try mapped.adopting(#require(try next.reference(readingParentMemory: false)))
        #expect(fresh !== mapped && fresh.keptCount == 0)
    }

    @Test func workersDecodeASharedArrayOncePerCall() throws {
        let parallel = Parallel(jobs: 2, backend: .processes, batchSize: .fixed(1))
        for call in 1...2 {
            // Each call's data is new: a worker must not serve the previous call's copy.
            let values = [Double](repeating: Double(call), count: 300_000)  // 2.4 MB
            let reports = try parallel.run((0..<12).map { SumAndCountCopies(values: values, part: $0) })
            #expect(reports.allSatisfy { $0.first == Double(call) && $0.sum == Double(call) * 300_000 })
            for pid in Set(reports.map(\.pid)) {
                let counts = Set(reports.filter { $0.pid == pid }.map(\.decoded))
                #expect(counts.count == 1, "worker \(pid) decoded the array again within one call: \(counts)")
            }
        }
    }

    @Test func workersDropACallsSharedArraysWhenItEnds() throws {
        let values = [Double](repeating: 3, count: 300_000)
        let reports = try Parallel(jobs: 2, backend: .processes).run((0..<6).map { SumAndCountCopies(values: values, part: $0) })
        func mapsArguments(_ pid: Int32) -> Bool {
            ((try? String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8)) ?? "").contains("joblib-arguments")
        }
        let pids = Set(reports.map(\.pid))
        let deadline = Date().addingTimeInterval(2)
        while pids.contains(where: mapsArguments) && Date() < deadline { usleep(5_000) }
        #expect(!pids.contains(where: mapsArguments), "a worker still maps the finished call's arguments")
    }

    @Test func anNDArrayInSharedMemoryTravelsWithoutACopy() throws {
        var values = try NDArray<Double>(sharedShape: [400_000], repeating: 0)
        for i in 0..<values.count { values[[i]] = Double(i % 5) }
        #expect(values.isInSharedMemory, "mutating the only copy in place keeps it in shared memory")
        // The arena names the array's own file instead of copying it into one of its own.
        let arena = SharedArgumentArena(threshold: .megabytes(1))
        _ = try BinaryEncoder().encode(SumArraySlice(values: values, part: 0, parts: 2), sections: arena)
        #expect((try arena.reference(readingParentMemory: false))?.sections.first?.fd != nil)
        #expect(!arena.ownsFile)
        arena.close()
        // Workers map it and read what the parent wrote.
        let tasks = (0..<4).map { SumArraySlice(values: values, part: $0, parts: 4) }
        let results = try Parallel(jobs: 2, backend: .processes).run(tasks)
        #expect(results.allSatisfy { $0.mapped })
        let expected: [Double] = (0..<4).map { part in
            (part * 100_000..<(part + 1) * 100_000).reduce(0.0) { $0 + Double($1 % 5) }
        }
        #expect(results.map { $0.sum } == expected)
    }

    @Test func aFreedSharedNDArrayLeavesNothingOpen() throws {
        func openNDArrayFiles() -> Int {
            let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
            return open.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)") }
                .filter { $0.contains("joblib-ndarray") }.count
        }
        let before = openNDArrayFiles()
        do {
            let values = try NDArray<Float>(sharedShape: [1000, 10], repeating: 2)
            #expect(openNDArrayFiles() == before + 1)
            #expect(values.reduce(0, +) == 20_000)
        }
        #expect(openNDArrayFiles() == before)
        #expect(throws: PersistenceError.self) { try NDArray<Double>(sharedShape: [-1], repeating: 0) }
    }
}
}
