/// The type of every swift-joblib error's `code`: a stable name that programs match on.
///
/// Each error type nests its own `Code` (``CodingError/Code``, `PersistenceError.Code`,
/// `ParallelError.Code`…) so that its codes are listed, and linked, under the error itself; this
/// protocol gives them one shape. Codes are compared by their `rawValue`, which never changes
/// between releases, and print as it.
public protocol JoblibErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible
where RawValue == String {
    /// A code from its stable name.
    init(rawValue: String)
}

extension JoblibErrorCode {
    /// The stable name of the code, for example `"truncated"`.
    public var description: String { rawValue }
}

/// What every swift-joblib error type shares: a stable `code`, a `message` a person can act on,
/// and one way of printing them (written once here).
///
/// The rules every error type follows (ARCHITECTURE.md, "Errors"):
/// - An error caused by another one (a system call's failure, a coding error) keeps it in
///   `underlying: (any Error)?` (an `Error` is `Sendable` in Swift 6), so programs can inspect the
///   cause instead of parsing text. Its description shows the cause once: in brackets after the
///   message, unless the message already says it.
/// - Invalid input, files, configuration and system failures throw; a precondition traps only on
///   a programmer error that no input or I/O can cause and that the caller can check first (an
///   index out of bounds, a negative byte count, a shape that does not hold its elements).
package protocol JoblibError: Error, CustomStringConvertible {
    associatedtype Code: JoblibErrorCode
    /// What kind of failure this is.
    var code: Code { get }
    /// A sentence saying what went wrong and, where possible, what to do.
    var message: String { get }
}

extension JoblibError {
    /// `"<ErrorType>.<code>: <message>"`, then each detail that is not nil (a place: a path, a
    /// byte offset), then `cause` in brackets unless the message already contains it.
    package func describe(_ details: String?..., cause: (any Error)? = nil) -> String {
        var text = "\(Self.self).\(code): \(message)"
        for case let detail? in details { text += " " + detail }
        return text + causeSuffix(cause, after: message)
    }
}

/// `" [cause]"`, or nothing when there is no cause or `message` already says it (nothing is
/// printed twice). For descriptions that do not start like an error's (a warning's).
package func causeSuffix(_ cause: (any Error)?, after message: String) -> String {
    guard let cause else { return "" }
    let shown = "\(cause)"
    return message.contains(shown) ? "" : " [\(shown)]"
}
