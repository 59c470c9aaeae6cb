import JoblibCoding

/// The one error type of `JoblibDask`: what went wrong between this program, its Dask bridge and
/// the cluster, with a stable ``code`` and a message that says what to do.
///
/// A task's own failures are not wrapped: a thrown `Codable` error arrives as itself, a crashed
/// Swift worker as ``/JoblibParallel/ParallelError`` `workerDied`, an overrun as ``/JoblibParallel/ParallelError`` `timeout`.
public struct DaskError: Error, CustomStringConvertible, Sendable, JoblibError {
    /// What went wrong, stable across releases (compare codes, not messages).
    public struct Code: JoblibErrorCode {
        /// The stable name of the code, for example `"noWorkers"`.
        public var rawValue: String
        /// A code from its stable name.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// The Python interpreter was not found or could not run the bridge.
        public static let pythonUnavailable = Code(rawValue: "pythonUnavailable")
        /// Python runs but cannot import `dask.distributed`; the message names the `pip` command.
        public static let distributedUnavailable = Code(rawValue: "distributedUnavailable")
        /// No scheduler answered at the address within the connect timeout.
        public static let schedulerUnreachable = Code(rawValue: "schedulerUnreachable")
        /// The client, scheduler and workers run different versions of Dask's packages or Python.
        public static let versionMismatch = Code(rawValue: "versionMismatch")
        /// The cluster had no workers for longer than the no-workers timeout.
        public static let noWorkers = Code(rawValue: "noWorkers")
        /// The connection to the scheduler broke during the call.
        public static let schedulerLost = Code(rawValue: "schedulerLost")
        /// Dask gave up on a task (for example `KilledWorker`: every worker that ran it died);
        /// ``DaskError/taskIndex`` names it.
        public static let taskLost = Code(rawValue: "taskLost")
        /// The bridge process failed or broke the protocol; the message carries its output.
        public static let bridgeFailed = Code(rawValue: "bridgeFailed")
    }

    /// What went wrong.
    public var code: Code
    /// A sentence saying what happened and what to do about it.
    public var message: String
    /// The index, in the input, of the task concerned, if any.
    public var taskIndex: Int?
    /// The error that caused this one (starting Python, writing to the bridge), if any.
    public var underlying: (any Error)?

    /// An error with a code and message.
    public init(_ code: Code, _ message: String, taskIndex: Int? = nil, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.taskIndex = taskIndex
        self.underlying = underlying
    }

    /// `"DaskError.<code>: <message>"`, then the underlying error in brackets unless the message
    /// already says it.
    public var description: String { describe(cause: underlying) }
}
