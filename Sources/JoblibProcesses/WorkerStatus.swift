import JoblibParallel
import JoblibSystem

/// The worker's side of its status words: which task it is working on, at which stage, since
/// when. Plain stores into shared memory, no system call; the parent reads them after a death
/// (to blame exactly that task) and while the task runs (for timeouts).
struct WorkerStatus {
    let words: SharedWords

    /// Work on task `index` begins, at `stage`; its time starts at `time` (now by default).
    func begin(_ index: Int, _ stage: RemoteTaskError.Stage, at time: UInt64 = monotonicNanoseconds()) {
        words.store(StatusWord.startedAt, time)
        words.store(StatusWord.stage, StatusWord.code(of: stage))
        words.store(StatusWord.runningTask, UInt64(index + 1))
    }

    /// The same task moves on to `stage` (its time keeps running).
    func advance(to stage: RemoteTaskError.Stage) {
        words.store(StatusWord.stage, StatusWord.code(of: stage))
    }

    /// Between batches: a death now is no task's fault.
    func idle() {
        words.store(StatusWord.runningTask, 0)
        words.store(StatusWord.stage, 0)
    }
}
