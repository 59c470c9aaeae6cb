import JoblibCoding
import JoblibPersistence
import JoblibSystem

/// Why a cached call, a shelved result, `clear` or `reduceSize` failed.
///
/// Errors thrown by the cached function itself are not wrapped: they reach the caller as they
/// are, and nothing is stored. Match on ``code`` (stable across releases).
public struct MemoryError: Error, CustomStringConvertible, Sendable, JoblibError {
    /// A stable identifier of the kind of failure.
    public struct Code: JoblibErrorCode {
        /// The stable name of the code, for example `"corruptEntry"`.
        public var rawValue: String
        /// A code from its stable name.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// An argument of `cache`, `reduceSize` or of the call can never work (an ignored
        /// argument that does not exist, an empty function name, a negative limit).
        public static let invalidArgument = Code(rawValue: "invalidArgument")
        /// An argument could not be hashed: its `Encodable` conformance threw.
        public static let argumentNotHashable = Code(rawValue: "argumentNotHashable")
        /// The function's result could not be encoded, so it cannot be cached.
        public static let resultNotEncodable = Code(rawValue: "resultNotEncodable")
        /// A shelved result is no longer in the cache (cleared or evicted).
        public static let notInCache = Code(rawValue: "notInCache")
        /// A shelved result's entry is unreadable (corrupt, truncated, or of another type).
        public static let corruptEntry = Code(rawValue: "corruptEntry")
        /// The operating system refused an operation of `clear` or `reduceSize`.
        public static let io = Code(rawValue: "io")
    }

    /// What kind of failure this is.
    public var code: Code
    /// A sentence saying what went wrong and, where possible, what to do.
    public var message: String
    /// The file or directory concerned, if any.
    public var path: String?
    /// The error that caused this one, if any.
    public var underlying: (any Error)?

    package init(_ code: Code, _ message: String, path: String? = nil, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.underlying = underlying
    }

    /// `"MemoryError.<code>: <message>"`, then the path and the underlying error when the
    /// message does not already say them.
    public var description: String { describe(pathDetail(path, message: message, cause: underlying), cause: underlying) }

    static func io(_ error: SystemError) -> MemoryError {
        let what = error.path.map { "cannot \(error.operation) '\($0)'" } ?? "\(error.operation) failed"
        return MemoryError(.io, "\(what): \(error.reason)", path: error.path, underlying: error)
    }
}

/// Something went wrong in the cache, but the call still returned its value.
///
/// A cache must not make a working program fail because the disk is full or the cache directory
/// is read-only, yet such failures must never go unnoticed: each one is handed to the `Memory`'s
/// warning handler (by default one line on standard error).
public struct MemoryWarning: Sendable, CustomStringConvertible {
    /// A stable identifier of the kind of warning.
    public struct Code: JoblibErrorCode {
        /// The stable name of the code, for example `"writeFailed"`.
        public var rawValue: String
        /// A code from its stable name.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// The result was computed but could not be stored (read-only location, full disk…).
        public static let writeFailed = Code(rawValue: "writeFailed")
        /// A stored entry was corrupt, truncated or unreadable; it was recomputed and replaced.
        public static let corruptEntry = Code(rawValue: "corruptEntry")
        /// The access time of an entry could not be updated (its last use is then older for
        /// `reduceSize` than it really is).
        public static let accessTimeNotUpdated = Code(rawValue: "accessTimeNotUpdated")
        /// Enforcing the automatic `bytesLimit` failed.
        public static let evictionFailed = Code(rawValue: "evictionFailed")
        /// A compressed result cannot be memory-mapped; it was loaded into memory instead.
        public static let notMapped = Code(rawValue: "notMapped")
        /// The function's version changed and its old entries could not be cleared.
        public static let clearFailed = Code(rawValue: "clearFailed")
        /// The cache's file system has no working file locks: processes that miss the same call
        /// at once may each compute it (given once per `Memory`).
        public static let lockUnavailable = Code(rawValue: "lockUnavailable")
        /// Another caller computed the same call for longer than `computationWait`; this one
        /// computed it too.
        public static let waitTimedOut = Code(rawValue: "waitTimedOut")
        /// `reduceSize` could not save a function's index of entry sizes (full disk, read-only
        /// location); eviction went on, and the next process's first scan is slower.
        public static let sizeIndexNotSaved = Code(rawValue: "sizeIndexNotSaved")
    }

    /// What kind of warning this is.
    public var code: Code
    /// A sentence for people.
    public var message: String
    /// The file or directory concerned, if any.
    public var path: String?
    /// The error behind the warning, if any.
    public var underlying: (any Error)?

    package init(_ code: Code, _ message: String, path: String? = nil, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.underlying = underlying
    }

    /// The warning as one line: code, message, path and underlying error (each said once).
    public var description: String {
        let path = pathDetail(path, message: message, cause: underlying).map { " " + $0 } ?? ""
        return "[Memory] warning \(code): \(message)" + path + causeSuffix(underlying, after: message)
    }

    /// The default handler: one line on standard error.
    public static let standardError: @Sendable (MemoryWarning) -> Void = { warning in
        writeLineToStandardError(warning.description)
    }
}

/// `('path')`, unless the message or the cause printed after it already names the path, so that
/// nothing is printed twice.
private func pathDetail(_ path: String?, message: String, cause: (any Error)?) -> String? {
    guard let path, !message.contains(path) else { return nil }
    return causeSuffix(cause, after: message).contains(path) ? nil : "('\(path)')"
}
