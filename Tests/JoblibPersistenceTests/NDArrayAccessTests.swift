import JoblibPersistence
import Testing

/// `NDArray`'s element accessors are `@inlinable`, so these run in this module's copy of them:
/// the behaviour callers see (indices, slices, copy-on-write) must be the library's.
@Suite struct NDArrayAccessTests {
    @Test func indicesCountAndSlicesFollowRowMajorOrder() {
        let a = NDArray(shape: [3, 4], (0..<12).map(Double.init))
        #expect(a.count == 12 && a.startIndex == 0 && a.endIndex == 12)
        #expect(a.indices == 0..<12)
        #expect(a.index(after: 4) == 5 && a.index(before: 4) == 3 && a.index(4, offsetBy: 3) == 7)
        #expect(a[[2, 1]] == 9 && a[9] == 9)
        let middle: Double = a[4..<8].reduce(0, +)
        #expect(middle == 22)
        #expect(Array(a.reversed().prefix(2)) == [11, 10])
        var sum = 0.0
        for value in a { sum += value }
        #expect(sum == 66)
        #expect(a.withUnsafeBufferPointer { $0.reduce(0, +) } == 66)
        #expect(a.withContiguousStorageIfAvailable { $0.count } == 12)
        let empty = NDArray<Int32>(shape: [0, 5], [])
        #expect(empty.isEmpty && empty.indices.isEmpty && empty.reduce(0, +) == 0)
    }

    @Test func writesThroughEveryAccessorCopyOnWrite() {
        var a = NDArray(shape: [2, 2], [1.0, 2, 3, 4])
        let original = a
        a[0] = 10
        a[[1, 1]] = 40
        a.withUnsafeMutableBufferPointer { $0[1] = 20 }
        a[2..<3].sort()  // MutableCollection's slice write-back
        #expect(Array(a) == [10, 20, 3, 40])
        #expect(Array(original) == [1, 2, 3, 4])

        var b = a
        b.withUnsafeMutableBufferPointer { $0[2] = 30 }
        #expect(a[2] == 3 && b[2] == 30)
        b.swapAt(0, 3)
        #expect(Array(b) == [40, 20, 30, 10] && Array(a) == [10, 20, 3, 40])
    }

    @Test func aSharedMemoryArrayIsWrittenInPlaceUntilCopied() throws {
        var shared = try NDArray<Int64>(sharedShape: [1000], repeating: 1)
        for i in shared.indices where i % 2 == 0 { shared[i] = Int64(i) }
        #expect(shared.isInSharedMemory)
        let copy = shared
        shared[1] = -1  // the storage is shared with `copy`: this write gets ordinary memory
        #expect(copy.isInSharedMemory && copy[1] == 1 && copy[998] == 998)
        #expect(!shared.isInSharedMemory && shared[1] == -1 && shared[998] == 998)
        let total: Int64 = copy.reduce(0, +)
        #expect(total == 249_500 + 500)  // the even indices, and 1 at each odd one
    }

    /// `init(shape:_:)` makes each element from its row-major position, in place; an error from
    /// the closure is the initialiser's (nothing is made), and an empty shape asks for nothing.
    @Test func elementsMadeInPlaceFromTheirPositions() throws {
        let grid = NDArray<Int32>(shape: [3, 4]) { Int32($0 / 4 * 10 + $0 % 4) }
        #expect(grid.shape == [3, 4] && grid.count == 12)
        let corners: [Int32] = [grid[[0, 0]], grid[[1, 2]], grid[[2, 3]]]
        #expect(corners == [0, 12, 23])
        let expected: [Int32] = (0..<12).map { Int32($0 / 4 * 10 + $0 % 4) }
        #expect(grid == NDArray(shape: [3, 4], expected))
        #expect(!grid.isMemoryMapped && !grid.isInSharedMemory)
        let large = NDArray<Double>(shape: [1 << 20]) { Double($0) * 0.5 }
        #expect(large[(1 << 20) - 1] == Double((1 << 20) - 1) * 0.5)

        struct Refused: Error, Equatable { var position: Int }
        var asked: [Int] = []
        #expect(throws: Refused(position: 2)) {
            _ = try NDArray<Float>(shape: [2, 2]) { position in
                asked.append(position)
                if position == 2 { throw Refused(position: position) }
                return Float(position)
            }
        }
        #expect(asked == [0, 1, 2])
        var calls = 0
        let empty = NDArray<Double>(shape: [4, 0]) { _ in calls += 1; return 1 }
        #expect(empty.isEmpty && empty.shape == [4, 0] && calls == 0)
    }
}
