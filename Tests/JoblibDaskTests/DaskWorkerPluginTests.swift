import JoblibTestSupport
import Testing

extension DaskTests {
    /// The Swift worker plugin in a plain Python, without a cluster (JoblibTestSupport's
    /// `BridgeHostHarness`).
    @Suite(.timeLimit(.minutes(1)))
    struct DaskWorkerPluginTests {
        /// A cancel that reaches a Dask worker just as its submission ends kills that Swift worker;
        /// the plugin must not give it the next submission. (It did: killed but not yet reaped, the
        /// process looked alive, went back to the idle list and the next submission died with it,
        /// ran again on a new Swift worker, and the call's report counted one worker more.)
        @Test func aSwiftWorkerKilledByALateCancelTakesNoOtherSubmission() throws {
            let statuses = try #require(try BridgeHostHarness.statusesAfterALateCancel(backend: "dask"), "the harness failed")
            #expect(statuses.first == 0)
            #expect(statuses.second == 0, "the next submission went to the killed Swift worker (status \(statuses.second))")
        }
    }
}
