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
    
        /// A Swift worker on a cluster node runs as one on `.processes` does: native thread pools
        /// capped (one thread: a cluster runs a Swift worker per thread of its own) and Swift's
        /// crash backtraces off (symbolicating a test binary on a loaded node took seconds, during
        /// which a crashed call could not fail fast), unless the node's own environment says
        /// otherwise. (The shared host, `swift_worker.py`, used by the Ray bridge too.)
        @Test func aSwiftWorkerRunsWithThreadCapsAndWithoutBacktracesUnlessTheHostSetsThem() throws {
            let unset = ["SWIFT_BACKTRACE", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                         "NUMEXPR_NUM_THREADS", "BLIS_NUM_THREADS"]
            let plain = try #require(
                try BridgeHostHarness.swiftWorkerEnvironment(hostAdding: [:], removing: unset), "the harness failed")
            #expect(plain["SWIFT_BACKTRACE"] == "enable=no")
            for name in unset.dropFirst() { #expect(plain[name] == "1", "\(name)") }
            let chosen = try #require(
                try BridgeHostHarness.swiftWorkerEnvironment(
                    hostAdding: ["SWIFT_BACKTRACE": "enable=yes", "OMP_NUM_THREADS": "3"], removing: []),
                "the harness failed")
            #expect(chosen["SWIFT_BACKTRACE"] == "enable=yes")
            #expect(chosen["OMP_NUM_THREADS"] == "3")
            #expect(chosen["MKL_NUM_THREADS"] == "1")
        }
    }
}
