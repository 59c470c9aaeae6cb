import JoblibSystem
import Synchronization

/// Idle bridges kept between calls with the same settings (starting one costs Python's imports and
/// a connection, a second or more), shut down at exit.
package final class BridgePool: Sendable {
    let settings: any BridgeSettings
    private let idle = Mutex<[Bridge]>([])
    private static let pools = Mutex<[AnyHashable: BridgePool]>([:])
    private static let exitHookInstalled = Atomic<Bool>(false)

    private init(settings: any BridgeSettings) { self.settings = settings }

    package static func pool(for settings: some BridgeSettings) -> BridgePool {
        if !exitHookInstalled.exchange(true, ordering: .relaxed) {
            runAtExit { BridgePool.shutDownAll() }
        }
        return pools.withLock { pools in
            if let pool = pools[AnyHashable(settings)] { return pool }
            let pool = BridgePool(settings: settings)
            pools[AnyHashable(settings)] = pool
            return pool
        }
    }

    /// Stops every idle bridge of every backend (at exit; tests call it to check that nothing is left).
    package static func shutDownAll() {
        let all = pools.withLock { Array($0.values) }
        for pool in all {
            let bridges = pool.idle.withLock { idle -> [Bridge] in
                defer { idle.removeAll() }
                return idle
            }
            for bridge in bridges { bridge.shutDown() }
        }
    }

    /// An idle bridge that still works, or a new one (after stopping the idle bridges that hold
    /// the capacity it needs).
    package func checkOut() throws -> Bridge {
        while let bridge = idle.withLock({ $0.popLast() }) {
            if bridge.isUsable { return bridge }
            bridge.shutDown(grace: .milliseconds(200))
        }
        if let group = settings.capacityGroup {
            let all = Self.pools.withLock { Array($0.values) }
            let holders = all.filter { $0 !== self && $0.settings.capacityGroup == group }.flatMap { pool in
                pool.idle.withLock { idle -> [Bridge] in
                    defer { idle.removeAll() }
                    return idle
                }
            }
            for bridge in holders { bridge.shutDown() }
        }
        return try Bridge(settings: settings)
    }

    package func checkIn(_ bridge: Bridge) {
        if bridge.isUsable {
            idle.withLock { $0.append(bridge) }
        } else {
            bridge.shutDown(grace: .seconds(2))
        }
    }
}
