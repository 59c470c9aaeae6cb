import JoblibTestSupport
import Testing

extension RayTests {
    /// The Swift worker actor's class in a plain Python, without a cluster (JoblibTestSupport's
    /// `BridgeHostHarness`).
    @Suite(.timeLimit(.minutes(1)))
    struct RayWorkerHostTests {
        /// A cancel that reaches an actor just as its batch ends kills that Swift worker; the actor
        /// must start another for its next batch. (It did not: killed but not yet reaped, the
        /// process looked alive, the next batch died with it, ran again on a new Swift worker, and
        /// the call's report counted one worker more.)
        @Test func aSwiftWorkerKilledByALateCancelTakesNoOtherBatch() throws {
            let statuses = try #require(try BridgeHostHarness.statusesAfterALateCancel(backend: "ray"), "the harness failed")
            #expect(statuses.first == 0)
            #expect(statuses.second == 0, "the next batch went to the killed Swift worker (status \(statuses.second))")
        }
    }
}
