import Foundation
import Joblib

/// `ray-bridge-orphan ADDRESS NAMESPACE`: a `.ray` call that cannot start (it needs a resource no
/// node has), so that its bridge waits for room for its actors; the test kills this process then
/// and checks that the bridge does not outlive it.
func runRayBridgeOrphanScenario(_ arguments: [String]) throws {
    guard arguments.count == 2 else {
        print("usage: ray-bridge-orphan ADDRESS NAMESPACE")
        exit(2)
    }
    let options = RayOptions(namespace: arguments[1], noNodesTimeout: .seconds(120), resources: ["joblib-test-absent": 1])
    print("calling")
    fflush(nil)
    _ = try Parallel(jobs: 1, backend: .ray(address: arguments[0], options: options)).run([PidTask(index: 0)])
    print("returned")
}
