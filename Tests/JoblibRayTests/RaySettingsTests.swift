import Foundation
import JoblibBridge
import JoblibParallel
import Testing
@testable import JoblibRay

/// What the bridge is told, without a cluster.
@Suite struct RaySettingsTests {
    @Test func customResourcesTravelAsJSON() throws {
        let resources: [String: Double] = ["swift": 1, "odd \"name\"\\\n": 0.5]
        let settings = RaySettings(address: "127.0.0.1:6379", options: RayOptions(resources: resources))
        let object = try JSONSerialization.jsonObject(with: Data(settings.resourcesJSON.utf8)) as? [String: Double]
        #expect(object == resources)
        #expect(RaySettings(address: "x", options: RayOptions()).resourcesJSON == "{}")
    }

    @Test func theCallsTimeoutAndTheClusterGroupTheBridges() {
        let one = RaySettings(address: "127.0.0.1:6379", options: RayOptions())
        let other = RaySettings(address: "127.0.0.1:6379", options: RayOptions(numCPUs: 2))
        #expect(one != other && one.capacityGroup == other.capacityGroup)
        #expect(one.capacityGroup != RaySettings(address: "10.0.0.1:6379", options: RayOptions()).capacityGroup)
    }

    /// Calls with different timeouts share a bridge (its actors hold the cluster's capacity; each
    /// batch's own timeout bounds its wait for a node): the timeout is not in the pool's key.
    @Test func theCallsTimeoutIsNotPartOfTheBridgesIdentity() throws {
        let plain = RaySettings(address: "127.0.0.1:6379", options: RayOptions())
        let timed = RaySettings(address: "127.0.0.1:6379", options: RayOptions(), startWait: .seconds(3))
        #expect(plain == timed && plain.hashValue == timed.hashValue)
        #expect(BridgePool.pool(for: plain) === BridgePool.pool(for: timed))
        let startWait = { (settings: RaySettings) throws -> String? in
            let arguments = try settings.arguments()
            return arguments.firstIndex(of: "--start-wait").map { arguments[$0 + 1] }
        }
        #expect(try startWait(timed) == "3.0" && startWait(plain) == "30.0")
    }

    @Test func failureCodesMapToRayErrors() {
        let settings = RaySettings(address: "a", options: RayOptions())
        #expect((settings.failure(frame: [4] + Array("none".utf8)) as? RayError)?.code == .noNodes)
        #expect((settings.failure(frame: [7] + Array("gone".utf8)) as? RayError)?.code == .clusterLost)
        #expect((settings.failure(frame: [6], taskIndex: 3) as? RayError)?.taskIndex == 3)
        #expect((settings.failure(frame: [99]) as? RayError)?.code == .bridgeFailed)
    }

    /// `Backend.ray` is the shared remote backend (JoblibBridge's `BridgeBackend`) over Ray's settings.
    @Test func theBackendRunsThroughTheSharedBridgeBackend() throws {
        let backend = Backend.ray(address: "127.0.0.1:6379", options: RayOptions(maxWorkers: 3))
        #expect(backend.name == "ray")
        let made = try #require(try backend.makeBackend() as? BridgeBackend<RaySettings>)
        #expect(made.settings == RaySettings(address: "127.0.0.1:6379", options: RayOptions(maxWorkers: 3)))
    }
}
