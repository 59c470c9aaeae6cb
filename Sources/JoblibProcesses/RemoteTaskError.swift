/// An error thrown by a task in a worker process whose type could not travel back as itself.
///
/// Errors that are `Codable` (and whose type is declared at file scope) are rethrown in the
/// parent as their own type. Every other error arrives as a `RemoteTaskError` carrying the
/// error's type name and description, and the stage where it happened.
public struct RemoteTaskError: Error, CustomStringConvertible, Sendable {
    /// Where in the worker the error happened.
    public enum Stage: String, Codable, Sendable {
        /// Decoding the task sent by the parent.
        case decodingTask
        /// Running the task.
        case running
        /// Encoding the task's result.
        case encodingResult
    }

    /// The index of the task in the call's input.
    public var taskIndex: Int
    /// Where it happened.
    public var stage: Stage
    /// The error's type, as `String(reflecting:)` prints it (`"MyModule.LoadError"`).
    public var typeName: String
    /// The error's description, as the worker printed it.
    public var errorDescription: String

    /// What failed where: the stage, the task index, the error type and its description.
    public var description: String {
        let what: String
        switch stage {
        case .decodingTask: what = "could not decode task \(taskIndex) in the worker"
        case .running: what = "task \(taskIndex) threw"
        case .encodingResult: what = "could not encode the result of task \(taskIndex) in the worker"
        }
        return "\(what): \(typeName): \(errorDescription)"
    }
}
