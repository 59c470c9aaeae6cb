import Foundation
import JoblibBridge
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

    @Test func failureCodesMapToRayErrors() {
        let settings = RaySettings(address: "a", options: RayOptions())
        #expect((settings.failure(frame: [4] + Array("none".utf8)) as? RayError)?.code == .noNodes)
        #expect((settings.failure(frame: [7] + Array("gone".utf8)) as? RayError)?.code == .clusterLost)
        #expect((settings.failure(frame: [6], taskIndex: 3) as? RayError)?.taskIndex == 3)
        #expect((settings.failure(frame: [99]) as? RayError)?.code == .bridgeFailed)
    }
}
