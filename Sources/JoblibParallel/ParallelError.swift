import JoblibCoding
import JoblibSystem

/// The one error type of `JoblibParallel`: a stable ``code``, a message a user can act on, the task
/// it concerns and the underlying cause.
///
/// Errors thrown by your own tasks are not wrapped: a failing task's error is rethrown as it was
/// thrown. Cancelling the calling task throws `CancellationError`.
public struct ParallelError: Error, CustomStringConvertible, Sendable, JoblibError {
    /// What went wrong, stable across releases (compare codes, not messages).
    public struct Code: JoblibErrorCode {
        /// The stable name of the code, for example `"timeout"`.
        public var rawValue: String
        /// A code from its stable name.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// `jobs: 0`: joblib gives it no meaning and neither do we.
        public static let invalidWorkerCount = Code(rawValue: "invalidWorkerCount")
        /// `batchSize: .fixed(n)` with `n < 1`.
        public static let invalidBatchSize = Code(rawValue: "invalidBatchSize")
        /// `retries:` below 0.
        public static let invalidRetries = Code(rawValue: "invalidRetries")
        /// A timeout that is zero or negative.
        public static let invalidTimeout = Code(rawValue: "invalidTimeout")
        /// A worker limit below its minimum, such as `.processes(maxTasksPerWorker: 0)`; the call
        /// that uses the backend fails with it before any task runs.
        public static let invalidWorkerLimit = Code(rawValue: "invalidWorkerLimit")
        /// A task ran longer than the per-task `timeout`; ``ParallelError/taskIndex`` names it.
        /// On threads the task cannot be stopped: its thread is abandoned and replaced. On worker
        /// processes its worker is killed and replaced, and in `results(_:)` the timeout costs
        /// that task's entry alone (the other tasks still run).
        public static let timeout = Code(rawValue: "timeout")
        /// The system refused a worker (thread creation failed).
        public static let workerUnavailable = Code(rawValue: "workerUnavailable")
        /// The task cannot run on the backend asked for: a closure on a process or cluster
        /// backend, or a task type that another process cannot find by name (private or local).
        public static let unsupportedTask = Code(rawValue: "unsupportedTask")
        /// A worker process could not be started or did not become ready; the message says why.
        public static let workerStartFailed = Code(rawValue: "workerStartFailed")
        /// The worker process running a task died (a trap, a signal, `exit`); ``ParallelError/taskIndex``
        /// names the task, ``ParallelError/exitStatus`` how it died and ``ParallelError/stderrTail``
        /// what it printed last. The pool replaces the worker; other tasks are not affected.
        public static let workerDied = Code(rawValue: "workerDied")
    }

    /// What went wrong.
    public var code: Code
    /// A sentence saying what happened and what to do about it.
    public var message: String
    /// The index, in the input, of the task concerned, if any.
    public var taskIndex: Int?
    /// The error that caused this one, if any.
    public var underlying: (any Error)?
    /// For ``Code/workerDied``: how the worker process ended.
    public var exitStatus: ProcessExitStatus?
    /// For ``Code/workerDied``: the last lines the worker wrote to standard error.
    public var stderrTail: String?

    /// An error with a code and message.
    public init(_ code: Code, _ message: String, taskIndex: Int? = nil, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.taskIndex = taskIndex
        self.underlying = underlying
    }

    /// `"ParallelError.<code>: <message>"`, then the underlying error in brackets unless the
    /// message already says it.
    public var description: String { describe(cause: underlying) }

    /// The worker running task `taskIndex` died with `status` after printing `stderrTail`, at
    /// `stage` when the worker said which. The message is one or two lines: what died when, the
    /// status in words, and the runtime's one-line reason (`Fatal error: …`) when it printed one;
    /// the whole tail stays in ``stderrTail``.
    public static func workerDied(
        taskIndex: Int, status: ProcessExitStatus, stderrTail: String, stage: RemoteTaskError.Stage? = nil
    ) -> ParallelError {
        let when: String
        switch stage {
        case .decodingTask: when = " while decoding it"
        case .running: when = " while running it"
        case .encodingResult: when = " while encoding its result"
        case .decodingResult, nil: when = ""
        }
        var message = "the worker process running task \(taskIndex) died\(when): \(status.explained)"
        if let reason = crashReason(in: stderrTail) { message += "\n" + reason }
        var error = ParallelError(.workerDied, message, taskIndex: taskIndex)
        error.exitStatus = status
        error.stderrTail = stderrTail
        return error
    }

    /// The last line in a crashed process's output where the Swift runtime (or a C library) said
    /// why it stopped, such as `Tasks.swift:55: Fatal error: task 2 gave up`.
    static func crashReason(in tail: String) -> String? {
        let markers = ["Fatal error", "Precondition failed", "Assertion failed", "Swift runtime failure", "terminate called"]
        let line = tail.split(separator: "\n").last { line in markers.contains { line.contains($0) } }
        guard let line else { return nil }
        let trimmed = line.trimmingPrefix(while: { $0 == " " })
        return trimmed.count > 400 ? String(trimmed.prefix(400)) + "…" : String(trimmed)
    }

    static func timeout(taskIndex: Int, limit: Duration) -> ParallelError {
        ParallelError(
            .timeout,
            "task \(taskIndex) ran longer than the timeout of \(limit); a running task cannot be interrupted: "
                + "on threads its thread is abandoned (left to finish in the background) and replaced",
            taskIndex: taskIndex)
    }
}
