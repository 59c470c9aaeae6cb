import JoblibSystem
import Synchronization

/// Idle bridges kept between calls with the same settings (starting one costs Python's imports and
/// a connection, a second or more), shut down at exit.
package final class BridgePool: Sendable {
    let settings: any BridgeSettings
    private let idle = Mutex<[Bridge]>([])
    /// Bridges handed out and not yet back.
    private let busy = Atomic<Int>(0)
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
        if let bridge = takeIdle() { return bridge }
        if let group = settings.capacityGroup {
            // A bridge of this pool still out is usually a call that just ended (an abandoned
            // stream): waiting a moment for it costs less than a second bridge, which would
            // find the cluster's capacity held by the first one.
            let deadline = ContinuousClock.now + Self.busyWait
            while busy.load(ordering: .relaxed) > 0 && ContinuousClock.now < deadline {
                sleepThread(milliseconds: 10)
                if let bridge = takeIdle() { return bridge }
            }
            let all = Self.pools.withLock { Array($0.values) }
            let holders = all.filter { $0 !== self && $0.settings.capacityGroup == group }.flatMap { pool in
                pool.idle.withLock { idle -> [Bridge] in
                    defer { idle.removeAll() }
                    return idle
                }
            }
            for bridge in holders { bridge.shutDown() }
        }
        let bridge = try Bridge(settings: settings)
        busy.add(1, ordering: .relaxed)
        return bridge
    }

    /// How long a call waits for a busy bridge of its pool when bridges hold cluster capacity.
    private static let busyWait = Duration.seconds(5)

    private func takeIdle() -> Bridge? {
        while let bridge = idle.withLock({ $0.popLast() }) {
            if bridge.isUsable {
                busy.add(1, ordering: .relaxed)
                return bridge
            }
            bridge.shutDown(grace: .milliseconds(200))
        }
        return nil
    }

    package func checkIn(_ bridge: Bridge) {
        busy.subtract(1, ordering: .relaxed)
        if bridge.isUsable {
            idle.withLock { $0.append(bridge) }
        } else {
            bridge.shutDown(grace: .seconds(2))
        }
    }
}
