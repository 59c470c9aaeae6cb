import Foundation
import Testing
import JoblibSystem

/// `ConditionLock`: state reachable only under the lock, and waiting for another thread's change.
@Suite(.timeLimit(.minutes(1))) struct ConditionLockTests {
    @Test func aWaiterSeesTheChangeItWasSignalledFor() throws {
        let lock = ConditionLock((count: 0, done: false))
        for _ in 0..<4 {
            try startDetachedThread(name: "test") {
                for _ in 0..<1000 { lock.withLock { $0.state.count += 1 } }
                lock.withLock { locked in
                    if locked.state.count == 4000 { locked.state.done = true }
                    locked.broadcast()
                }
            }
        }
        let count = lock.withLock { locked in
            while !locked.state.done { locked.wait() }
            return locked.state.count
        }
        #expect(count == 4000)
    }

    @Test func aTimedWaitReturnsFalseAtItsDeadline() {
        let lock = ConditionLock(0)
        let start = monotonicNanoseconds()
        let woken = lock.withLock { $0.wait(untilNanoseconds: monotonicNanoseconds() + 20_000_000) }
        #expect(!woken && monotonicNanoseconds() - start >= 20_000_000)
    }
}
