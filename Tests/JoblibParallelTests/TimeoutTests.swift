import Foundation
import JoblibParallel
import Testing

@Suite(.timeLimit(.minutes(1))) struct TimeoutTests {
    /// A timeout fails the call within timeout + 0.25 s, whatever the other workers are doing:
    /// when task 1 times out (at 1 s), task 2 has run 0.5 s of its 1.4 s on the other thread.
    @Test func threadsReturnSoonAfterTheTimeout() throws {
        let durations: [Double] = [0.5, 2.5, 1.4]
        let start = ContinuousClock.now
        #expect {
            try Parallel(jobs: 2, backend: .threads, batchSize: .fixed(1), timeout: .seconds(1)).map(durations) { seconds in
                usleep(UInt32(seconds * 1_000_000))
                return seconds
            }
        } throws: { error in
            (error as? ParallelError)?.code == .timeout && (error as? ParallelError)?.taskIndex == 1
        }
        let elapsed = ContinuousClock.now - start
        #expect(elapsed < .milliseconds(1_250), "returned after \(elapsed)")
    }
}
