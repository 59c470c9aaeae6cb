import JoblibCoding

/// The one error type of `JoblibRay`: what went wrong between this program, its Ray bridge and the
/// cluster, with a stable ``code`` and a message that says what to do.
///
/// A task's own failures are not wrapped: a thrown `Codable` error arrives as itself, a crashed
/// Swift worker as ``/JoblibParallel/ParallelError`` `workerDied`, an overrun as
/// ``/JoblibParallel/ParallelError`` `timeout`, and a Swift worker that cannot start on a node as
/// ``/JoblibParallel/ParallelError`` `workerStartFailed`.
public struct RayError: Error, CustomStringConvertible, Sendable, JoblibError {
    /// What went wrong, stable across releases (compare codes, not messages).
    public struct Code: JoblibErrorCode {
        /// The stable name of the code, for example `"noNodes"`.
        public var rawValue: String
        /// A code from its stable name.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// The Python interpreter was not found or could not run the bridge.
        public static let pythonUnavailable = Code(rawValue: "pythonUnavailable")
        /// Python runs but cannot import `ray`; the message names the `pip` command.
        public static let rayUnavailable = Code(rawValue: "rayUnavailable")
        /// No Ray cluster answered at the address within the connect timeout.
        public static let clusterUnreachable = Code(rawValue: "clusterUnreachable")
        /// This program's Ray or Python (major.minor) differs from the cluster's.
        public static let versionMismatch = Code(rawValue: "versionMismatch")
        /// No node of the cluster could host a Swift worker (its resources, such as
        /// ``RayOptions/numCPUs``) for longer than the no-nodes timeout.
        public static let noNodes = Code(rawValue: "noNodes")
        /// The connection to the cluster broke during the call.
        public static let clusterLost = Code(rawValue: "clusterLost")
        /// Ray lost a batch every time it ran (its actor died each time); ``RayError/taskIndex``
        /// names each task of it.
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

    /// `"RayError.<code>: <message>"`, then the underlying error in brackets unless the message
    /// already says it.
    public var description: String { describe(cause: underlying) }
}
