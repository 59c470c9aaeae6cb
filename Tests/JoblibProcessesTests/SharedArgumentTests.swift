import Foundation
import JoblibCoding
import JoblibParallel
import JoblibPersistence
import Testing
@testable import JoblibProcesses

extension WorkerProcessSuites {
@Suite struct SharedArgumentTests {
    @Test func largeArraysAreStoredOnceOutOfLine() throws {
        let values = (0..<1_000_000).map(Double.init)  // 8 MB
        let arena = SharedArgumentArena(threshold: .megabytes(1))
        defer { arena.close() }
        let first = try BinaryEncoder().encode(SumSlice(values: values, part: 0, parts: 2), sections: arena)
        let second = try BinaryEncoder().encode(SumSlice(values: values, part: 1, parts: 2), sections: arena)
        #expect(first.count < 200 && second.count < 200)
        #expect(arena.reference?.sections.count == 1)
        // Small arrays stay inline.
        let small = try BinaryEncoder().encode(SumSlice(values: [1, 2], part: 0, parts: 1), sections: arena)
        #expect(small.count > 16)
        #expect(arena.reference?.sections.count == 1)
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
}
}
