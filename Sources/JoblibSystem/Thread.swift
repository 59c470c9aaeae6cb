#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import SystemPackage

// Threads, a condition variable and a monotonic clock: what JoblibParallel's thread pool needs
// from the system, kept here so that nothing above JoblibSystem calls pthreads directly.

/// A pthread mutex with its condition variable, for code that waits for a state change.
///
/// `Synchronization.Mutex` has no condition variable; this one is used where a thread must sleep
/// until another one signals (idle pool workers, a blocked caller).
// @unchecked Sendable: the pthread objects live in heap memory allocated once and never moved,
// and pthread_mutex/pthread_cond are themselves safe to use from any thread.
package final class ThreadCondition: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    package init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    package func lock() { pthread_mutex_lock(mutex) }
    package func unlock() { pthread_mutex_unlock(mutex) }

    /// Runs `body` holding the mutex.
    package func withLock<R>(_ body: () throws -> R) rethrows -> R {
        lock()
        defer { unlock() }
        return try body()
    }

    /// Sleeps until signalled (spurious wake-ups possible: re-check the state). Hold the lock.
    package func wait() { pthread_cond_wait(condition, mutex) }

    /// Sleeps until signalled or until `deadline` (``monotonicNanoseconds()``); false on timeout.
    /// Hold the lock.
    @discardableResult
    package func wait(untilNanoseconds deadline: UInt64) -> Bool {
        var time = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        return pthread_cond_timedwait(condition, mutex, &time) == 0
    }

    package func signal() { pthread_cond_signal(condition) }
    package func broadcast() { pthread_cond_broadcast(condition) }
}

/// A ``ThreadCondition`` that owns the state it guards: the state is reachable only while the
/// lock is held, through the ``Locked`` handle `withLock` hands to its body, so the compiler
/// (not a comment) keeps every access under the lock.
// @unchecked Sendable: `protected` is only read or written between lock() and unlock().
package final class ConditionLock<State>: @unchecked Sendable {
    private let condition = ThreadCondition()
    private var protected: State

    package init(_ state: State) { protected = state }

    /// Runs `body` holding the lock. `body` reaches the state, and waits for a change, through
    /// the handle it is given, which must not outlive the call.
    package func withLock<R>(_ body: (Locked) throws -> R) rethrows -> R {
        condition.lock()
        defer { condition.unlock() }
        return try body(Locked(owner: self))
    }

    /// The locked state of a ``ConditionLock``, valid during one `withLock` call. Each access to
    /// ``state`` is a short one, so that waiting (which lets other threads in) never happens in
    /// the middle of an access.
    package struct Locked {
        fileprivate unowned(unsafe) let owner: ConditionLock

        /// The guarded state.
        package var state: State {
            get { owner.protected }
            nonmutating _modify { yield &owner.protected }
        }

        /// Sleeps until signalled (spurious wake-ups possible: re-check the state).
        package func wait() { owner.condition.wait() }

        /// Sleeps until signalled or until `deadline` (``monotonicNanoseconds()``); false on timeout.
        @discardableResult
        package func wait(untilNanoseconds deadline: UInt64) -> Bool { owner.condition.wait(untilNanoseconds: deadline) }

        /// Wakes one waiting thread.
        package func signal() { owner.condition.signal() }
        /// Wakes every waiting thread.
        package func broadcast() { owner.condition.broadcast() }
    }
}

/// Nanoseconds of `CLOCK_MONOTONIC`: for durations and deadlines, never for dates.
@inline(__always)
package func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// Suspends the calling thread for at least `milliseconds` (`nanosleep`, resumed after a signal).
package func sleepThread(milliseconds: Int) {
    var remaining = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
    var left = timespec()
    while nanosleep(&remaining, &left) != 0 && errno == EINTR { remaining = left }
}

/// An identifier of the calling thread, unique among the threads alive now (`pthread_self`).
package func currentThreadIdentifier() -> UInt { UInt(pthread_self()) }

/// Starts a detached thread running `body`; it ends when `body` returns. (`name` is kept for
/// debugging; `pthread_setname_np` is a GNU extension that Swift's Glibc module does not import.)
///
/// - Throws: `SystemError` (operation `pthread_create`) when the system refuses a new thread.
package func startDetachedThread(name: String, _ body: @escaping @Sendable () -> Void) throws(SystemError) {
    let box = Unmanaged.passRetained(ThreadBody(name: name, body: body)).toOpaque()
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    var thread = pthread_t()
    let result = pthread_create(&thread, &attributes, { context in
        let body = Unmanaged<ThreadBody>.fromOpaque(context!).takeRetainedValue()
        body.body()
        return nil
    }, box)
    if result != 0 {
        Unmanaged<ThreadBody>.fromOpaque(box).release()
        throw SystemError("pthread_create", errno: Errno(rawValue: result))
    }
}

private final class ThreadBody: Sendable {
    let name: String
    let body: @Sendable () -> Void
    init(name: String, body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
    }
}
