import JoblibSystem
import Synchronization

/// Real threads that run pieces of work, shared by all calls and reused between them.
///
/// Work is queued; an idle thread takes it, and when fewer threads are idle than pieces are
/// queued, new threads start (so a call nested inside a task never waits for its own thread).
/// A thread idle for ``idleTimeout`` exits; ``shutdown()`` stops them all and waits.
package final class ThreadPool: Sendable {
    /// The pool behind ``Backend/threads``.
    package static let shared = ThreadPool(name: "joblib-thread", idleTimeout: .seconds(30))

    /// Threads alive in every pool of the process, for tests that check nothing is left running.
    package static var liveThreadsInAllPools: Int { allLive.load(ordering: .relaxed) }
    private static let allLive = Atomic<Int>(0)

    let name: String
    let idleTimeout: Duration
    private struct State {
        var queue: [@Sendable () -> Void] = []
        var queueHead = 0
        var live = 0
        var idle = 0
        var shuttingDown = false

        /// The next queued piece of work, taken off the queue.
        mutating func take() -> (@Sendable () -> Void)? {
            guard queueHead < queue.count else { return nil }
            let work = queue[queueHead]
            queueHead += 1
            if queueHead == queue.count {
                queue.removeAll(keepingCapacity: true)
                queueHead = 0
            }
            return work
        }
    }
    private let state = ConditionLock(State())
    private let abandoned = Atomic<Int>(0)

    package init(name: String, idleTimeout: Duration) {
        self.name = name
        self.idleTimeout = idleTimeout
    }

    /// Threads alive in this pool, idle or working.
    package var liveThreads: Int { state.withLock { $0.state.live } }

    /// Threads waiting for work.
    package var idleThreads: Int { state.withLock { $0.state.idle } }

    /// Threads this pool has given up on because a task overran its timeout.
    package var abandonedThreads: Int { abandoned.load(ordering: .relaxed) }

    /// Queues `count` copies of `work`, starting threads when too few are idle.
    ///
    /// - Throws: ``ParallelError/Code/workerUnavailable`` when no thread could run the work.
    package func submit(count: Int, _ work: @escaping @Sendable () -> Void) throws(ParallelError) {
        let toStart = state.withLock { locked -> Int in
            precondition(!locked.state.shuttingDown, "ThreadPool.submit after shutdown()")
            for _ in 0..<count { locked.state.queue.append(work) }
            let pending = locked.state.queue.count - locked.state.queueHead
            let missing = max(0, pending - locked.state.idle)
            for _ in 0..<min(count, locked.state.idle) { locked.signal() }
            locked.state.live += missing
            return missing
        }
        guard toStart > 0 else { return }
        Self.allLive.add(toStart, ordering: .relaxed)
        var failure: SystemError?
        for started in 0..<toStart {
            do {
                try startDetachedThread(name: name) { [self] in workerLoop() }
            } catch {
                failure = error
                let notStarted = toStart - started
                Self.allLive.subtract(notStarted, ordering: .relaxed)
                state.withLock { $0.state.live -= notStarted }
                break
            }
        }
        // Work can still run when some thread started; fail only when none exists to run it.
        if let failure, liveThreads == 0 {
            throw ParallelError(.workerUnavailable, "could not start a worker thread", underlying: failure)
        }
    }

    /// Notes that a task overran its timeout: its thread is no longer counted on. The thread
    /// rejoins the pool if the task ever returns; meanwhile new work starts new threads.
    package func abandonThread() { abandoned.add(1, ordering: .relaxed) }

    /// Stops every thread once the queued work is done, and waits for them to exit.
    package func shutdown() {
        state.withLock { locked in
            locked.state.shuttingDown = true
            locked.broadcast()
            while locked.state.live > 0 { locked.wait() }
        }
    }

    private func workerLoop() {
        while let work = nextWork() { work() }
    }

    /// The next piece of work, waiting for it while idle; nil when this thread should exit (the
    /// pool shuts down, or nothing came for `idleTimeout`), after it stopped counting as live.
    private func nextWork() -> (@Sendable () -> Void)? {
        state.withLock { locked in
            while true {
                if let work = locked.state.take() { return work }
                if locked.state.shuttingDown { break }
                locked.state.idle += 1
                let woken = locked.wait(untilNanoseconds: monotonicNanoseconds() + UInt64(ParallelJob.nanoseconds(idleTimeout)))
                locked.state.idle -= 1
                if !woken && locked.state.queueHead == locked.state.queue.count { break }
            }
            locked.state.live -= 1
            Self.allLive.subtract(1, ordering: .relaxed)
            locked.broadcast()
            return nil
        }
    }
}
