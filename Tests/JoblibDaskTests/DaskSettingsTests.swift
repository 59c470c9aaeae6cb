import JoblibBridge
import JoblibParallel
import Testing
@testable import JoblibDask

/// What the bridge is told, without a cluster.
@Suite struct DaskSettingsTests {
    /// Calls with different timeouts share a bridge (a bridge per timeout would install its own
    /// worker plugin, with idle Swift workers on every Dask worker): the timeout is not in the
    /// pool's key; it only bounds a new bridge's wait for a first worker.
    @Test func theCallsTimeoutIsNotPartOfTheBridgesIdentity() throws {
        let plain = DaskSettings(scheduler: "tcp://127.0.0.1:8786", options: DaskOptions())
        let timed = DaskSettings(scheduler: "tcp://127.0.0.1:8786", options: DaskOptions(), startWait: .seconds(3))
        #expect(plain == timed && plain.hashValue == timed.hashValue)
        #expect(BridgePool.pool(for: plain) === BridgePool.pool(for: timed))
        #expect(plain != DaskSettings(scheduler: "tcp://127.0.0.1:8786", options: DaskOptions(noWorkersTimeout: .seconds(3))))
        let startWait = { (settings: DaskSettings) throws -> String? in
            let arguments = try settings.arguments()
            return arguments.firstIndex(of: "--start-wait").map { arguments[$0 + 1] }
        }
        #expect(try startWait(timed) == "3.0" && startWait(plain) == "30.0")
    }

    /// `Backend.dask` is the shared remote backend (JoblibBridge's `BridgeBackend`) over Dask's settings.
    @Test func theBackendRunsThroughTheSharedBridgeBackend() throws {
        let backend = Backend.dask(scheduler: "tcp://127.0.0.1:8786", options: DaskOptions(noWorkersTimeout: .seconds(5)))
        #expect(backend.name == "dask")
        let made = try #require(try backend.makeBackend() as? BridgeBackend<DaskSettings>)
        #expect(made.settings == DaskSettings(scheduler: "tcp://127.0.0.1:8786", options: DaskOptions(noWorkersTimeout: .seconds(5))))
    }
}
