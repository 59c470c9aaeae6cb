/// An error of a task that ran in another process (a worker process, a Dask worker): thrown by the
/// task there with a type that could not travel back as itself, or met while its bytes crossed
/// the boundary.
///
/// Errors that are `Codable` (and whose type is declared at file scope) are rethrown in the
/// parent as their own type. Every other error arrives as a `RemoteTaskError` carrying the
/// error's type name and description, and the stage where it happened. A result that cannot be
/// decoded in the calling process is a `RemoteTaskError` with stage ``Stage/decodingResult``.
public struct RemoteTaskError: Error, CustomStringConvertible, Sendable {
    /// Where in the worker the error happened.
    public enum Stage: String, Codable, Sendable {
        /// Decoding the task sent by the parent.
        case decodingTask
        /// Running the task.
        case running
        /// Encoding the task's result.
        case encodingResult
        /// Decoding the task's result in the calling process (the task itself succeeded).
        case decodingResult
    }

    /// The index of the task in the call's input.
    public var taskIndex: Int
    /// Where it happened.
    public var stage: Stage
    /// The error's type, as `String(reflecting:)` prints it (`"MyModule.LoadError"`).
    public var typeName: String
    /// The error's description, as the worker printed it.
    public var errorDescription: String

    /// An error for the task at `taskIndex`, met at `stage`.
    public init(taskIndex: Int, stage: Stage, typeName: String, errorDescription: String) {
        self.taskIndex = taskIndex
        self.stage = stage
        self.typeName = typeName
        self.errorDescription = errorDescription
    }

    /// What failed where: the stage, the task index, the error type and its description.
    public var description: String {
        let what: String
        switch stage {
        case .decodingTask: what = "could not decode task \(taskIndex) in the worker"
        case .running: what = "task \(taskIndex) threw"
        case .encodingResult: what = "could not encode the result of task \(taskIndex) in the worker"
        case .decodingResult: what = "task \(taskIndex) ran, but its result could not be decoded in this process"
        }
        return "\(what): \(typeName): \(errorDescription)"
    }
}
