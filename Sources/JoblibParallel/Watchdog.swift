import JoblibSystem

/// One thread, started on first use, that watches the running tasks of calls with a timeout.
///
/// A task on a thread cannot be interrupted, so the watchdog does not wait for it: it fails the
/// call with ``ParallelError/Code/timeout`` and tells the backend to abandon the worker.
final class Watchdog: Sendable {
    static let shared = Watchdog()

    private let condition = ThreadCondition()
    // Guarded by `condition`'s mutex.
    private nonisolated(unsafe) var jobs: [ParallelJob] = []
    private nonisolated(unsafe) var started = false

    func register(_ job: ParallelJob) {
        condition.withLock {
            jobs.append(job)
            if !started {
                started = true
                // Without the thread no timeout fires; the tasks' own overrun check still reports them.
                try? startDetachedThread(name: "joblib-watchdog") { [self] in loop() }
            }
            condition.signal()
        }
    }

    func unregister(_ job: ParallelJob) {
        condition.withLock { jobs.removeAll { $0 === job } }
    }

    private func loop() {
        condition.lock()
        while true {
            if jobs.isEmpty {
                condition.wait()
                continue
            }
            // Check ten times per timeout, between every millisecond and every 20 ms.
            let shortest = jobs.compactMap(\.timeoutNanoseconds).min() ?? 20_000_000
            let interval = min(max(shortest / 10, 1_000_000), 20_000_000)
            condition.wait(untilNanoseconds: monotonicNanoseconds() + interval)
            let watched = jobs
            condition.unlock()
            let now = monotonicNanoseconds()
            for job in watched { job.checkTimeouts(now: now) }
            condition.lock()
        }
    }
}
