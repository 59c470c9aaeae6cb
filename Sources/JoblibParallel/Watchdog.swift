import JoblibSystem

/// One thread, started on first use, that watches the running tasks of calls with a timeout.
///
/// A task on a thread cannot be interrupted, so the watchdog does not wait for it: it fails the
/// call with ``ParallelError/Code/timeout`` and tells the backend to abandon the worker.
final class Watchdog: Sendable {
    static let shared = Watchdog()

    private let state = ConditionLock((jobs: [ParallelJob](), started: false))

    func register(_ job: ParallelJob) {
        state.withLock { locked in
            locked.state.jobs.append(job)
            if !locked.state.started {
                locked.state.started = true
                // Without the thread no timeout fires; the tasks' own overrun check still reports them.
                try? startDetachedThread(name: "joblib-watchdog") { [self] in loop() }
            }
            locked.signal()
        }
    }

    func unregister(_ job: ParallelJob) {
        state.withLock { $0.state.jobs.removeAll { $0 === job } }
    }

    private func loop() {
        while true {
            let watched = nextRound()
            let now = monotonicNanoseconds()
            for job in watched { job.checkTimeouts(now: now) }
        }
    }

    /// Waits for the next check (ten times per shortest timeout, between every millisecond and
    /// every 20 ms; forever while no call is watched) and returns the calls to check.
    private func nextRound() -> [ParallelJob] {
        state.withLock { locked in
            while locked.state.jobs.isEmpty { locked.wait() }
            let shortest = locked.state.jobs.compactMap(\.timeoutNanoseconds).min() ?? 20_000_000
            let interval = min(max(shortest / 10, 1_000_000), 20_000_000)
            locked.wait(untilNanoseconds: monotonicNanoseconds() + interval)
            return locked.state.jobs
        }
    }
}
