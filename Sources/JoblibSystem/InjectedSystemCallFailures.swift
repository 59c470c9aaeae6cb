import Synchronization
import SystemPackage

/// Failures that tests inject into ``systemCall(_:path:_:)``: the error paths a healthy machine
/// never takes (a full disk, an interrupted call, a refused permission), as swift-system's
/// mocking does.
///
/// The failures apply to calls made by the task that runs ``during(_:)`` (synchronously, on its
/// own thread): tests that run at the same time are not affected. Each failure is used once, in
/// order, for the next call of its operation; the call itself is then not made. An injected
/// `EINTR` is retried like a real one.
package final class InjectedSystemCallFailures: Sendable {
    private let pending: Mutex<[(operation: String, errno: Errno)]>
    private let used = Atomic<Int>(0)

    /// Failures to inject, in order: the next call of `operation` fails with `errno`.
    package init(_ failures: [(operation: String, errno: Errno)]) {
        pending = Mutex(failures)
    }

    /// The failures not injected yet (their operation was not called).
    package var remaining: [(operation: String, errno: Errno)] { pending.withLock { $0 } }
    /// How many failures were injected.
    package var injectedCount: Int { used.load(ordering: .relaxed) }

    /// Runs `body` with these failures injected into the system calls it makes.
    package func during<R>(_ body: () throws -> R) rethrows -> R {
        Self.active.add(1, ordering: .relaxed)
        defer { Self.active.subtract(1, ordering: .relaxed) }
        return try Self.$current.withValue(self) { try body() }
    }

    /// The failure to inject into this call of `operation`, if any (one atomic load when no test
    /// injects anything).
    @inline(__always)
    static func next(for operation: String) -> Errno? {
        guard active.load(ordering: .relaxed) != 0, let current else { return nil }
        return current.take(operation)
    }

    private func take(_ operation: String) -> Errno? {
        pending.withLock { pending in
            guard let index = pending.firstIndex(where: { $0.operation == operation }) else { return nil }
            used.add(1, ordering: .relaxed)
            return pending.remove(at: index).errno
        }
    }

    private static let active = Atomic<Int>(0)
    @TaskLocal private static var current: InjectedSystemCallFailures?
}
