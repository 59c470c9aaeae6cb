import JoblibCoding

/// Why reading or writing a Python pickle (a file of Python's `joblib.dump`) failed.
///
/// Match on ``code`` (stable across releases); ``message`` is a sentence for people. Loading
/// through `load(_:from:)` reports these as `PersistenceError`, with this error as the cause.
public struct PickleError: Error, CustomStringConvertible, Sendable, JoblibError {
    /// A stable identifier of the kind of failure.
    public struct Code: JoblibErrorCode {
        /// The stable name of the code, for example `"truncated"`.
        public var rawValue: String
        /// A code from its stable name.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// The stream ends before its `STOP` opcode or inside an argument or an array's bytes.
        public static let truncated = Code(rawValue: "truncated")
        /// The stream is not a pickle this reader understands: an unknown opcode, a stack or mark
        /// used wrongly, a memo entry that does not exist, or an argument of the wrong kind.
        public static let malformed = Code(rawValue: "malformed")
        /// The stream uses a pickle feature that cannot be read as data (persistent ids, the
        /// extension registry, out-of-band buffers, protocol 0 text opcodes).
        public static let unsupportedFeature = Code(rawValue: "unsupportedFeature")
        /// A bound was reached: nesting depth, memo size, allocation, or a reference cycle.
        public static let limitExceeded = Code(rawValue: "limitExceeded")
        /// The data does not fit the requested Swift type (the message says what was found where).
        public static let typeMismatch = Code(rawValue: "typeMismatch")
        /// A value cannot be written for Python (it is not plain data, or a number does not fit).
        public static let notPlainData = Code(rawValue: "notPlainData")
    }

    /// What kind of failure this is.
    public var code: Code
    /// A sentence saying what went wrong and, where possible, what to do.
    public var message: String
    /// The byte offset in the (decompressed) stream where reading failed, if known.
    public var offset: Int?

    package init(_ code: Code, _ message: String, offset: Int? = nil) {
        self.code = code
        self.message = message
        self.offset = offset
    }

    /// `"PickleError.<code>: <message>"`, then the offset if any.
    public var description: String { describe(offset.map { "(at byte \($0))" }) }
}
