import Synchronization
import Testing
@testable import JoblibParallel

/// Counts live instances, to check that the slots copy, replace and free what they hold.
private final class Tracked: Sendable {
    static let live = Atomic<Int>(0)
    let value: Int
    init(_ value: Int) {
        self.value = value
        Self.live.add(1, ordering: .relaxed)
    }
    deinit { Self.live.subtract(1, ordering: .relaxed) }
}

@Suite(.serialized) struct ResultStoreTests {
    @Test func slotsTakeRunsSinglesAndReplacementsInAnyOrder() {
        let store = ResultStore<Int>(count: 8)
        store.store(at: [2, 3, 4], [20, 30, 40])  // consecutive, fresh: one bulk copy
        store.store(at: [7, 0], [70, 0])  // not consecutive
        store.store(from: 3, [31, 41, 51])  // overlaps filled slots
        store.store(6, 60)
        store.store(1, 10)
        #expect(store.values(count: 8) == [0, 10, 20, 31, 41, 51, 60, 70])
    }

    @Test func missingOutcomesAreFilledAndEveryValueIsFreedOnce() {
        let before = Tracked.live.load(ordering: .relaxed)
        do {
            let store = ResultStore<Tracked>(count: 6)
            store.store(from: 0, [Tracked(0), Tracked(1)])
            store.store(1, Tracked(11))  // replaces (frees) the first 1
            store.store(at: [4], [Tracked(4)])
            let values = store.values(count: 6) { Tracked(-$0) }
            #expect(values.map(\.value) == [0, 11, -2, -3, 4, -5])
        }
        // The store (partly filled) and the array are gone: nothing leaked, nothing freed twice.
        #expect(Tracked.live.load(ordering: .relaxed) == before)
        do {
            let full = ResultStore<Tracked>(count: 3)
            full.store(at: [0, 1, 2], [Tracked(0), Tracked(1), Tracked(2)])
            #expect(full.values(count: 3).map(\.value) == [0, 1, 2])
        }
        #expect(Tracked.live.load(ordering: .relaxed) == before)
    }

    @Test func aStoreOfUnknownCountKeepsRuns() {
        let store = ResultStore<Int>(count: nil)
        store.store(from: 2, [2, 3])
        store.store(0, 0)
        store.store(1, 1)
        #expect(store.values(count: 4) == [0, 1, 2, 3])
    }
}
