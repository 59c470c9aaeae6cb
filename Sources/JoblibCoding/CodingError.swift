/// Why a value could not be encoded or decoded by ``BinaryEncoder``, ``BinaryDecoder`` or ``hash(_:)``.
public struct CodingError: Error, CustomStringConvertible, Sendable, JoblibError {
    /// A stable identifier of the kind of failure; match on it rather than on the message.
    public struct Code: JoblibErrorCode {
        /// The stable name of the code, for example `"truncated"`.
        public var rawValue: String
        /// A code from its stable name.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// The input ended before the value did.
        public static let truncated = Code(rawValue: "truncated")
        /// A declared length or count is larger than what is left of the input.
        public static let lengthExceedsInput = Code(rawValue: "lengthExceedsInput")
        /// The input holds a different kind of value than the type being decoded asks for.
        public static let typeMismatch = Code(rawValue: "typeMismatch")
        /// A byte that is not a valid tag of the format: the input is corrupt or not ours.
        public static let invalidTag = Code(rawValue: "invalidTag")
        /// A key the type requires is missing from the input.
        public static let keyNotFound = Code(rawValue: "keyNotFound")
        /// Bytes remain after the value ended.
        public static let trailingBytes = Code(rawValue: "trailingBytes")
        /// A string is not valid UTF-8.
        public static let invalidUTF8 = Code(rawValue: "invalidUTF8")
        /// Containers are nested deeper than the decoder allows.
        public static let nestingTooDeep = Code(rawValue: "nestingTooDeep")
        /// The value's `Encodable` conformance used the encoder in a way the format cannot store.
        public static let invalidEncoding = Code(rawValue: "invalidEncoding")
    }

    /// What kind of failure this is.
    public var code: Code
    /// A sentence saying what was wrong.
    public var message: String
    /// The keys leading to the value, outermost first (`"model.layers[2].weights"`).
    public var codingPath: [String]
    /// The byte offset in the input where decoding failed, if decoding.
    public var offset: Int?

    package init(_ code: Code, _ message: String, codingPath: [any CodingKey] = [], offset: Int? = nil) {
        self.code = code
        self.message = message
        self.codingPath = codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
        self.offset = offset
    }

    /// The path as one string, for messages.
    public var path: String {
        var text = ""
        for component in codingPath {
            if component.hasPrefix("[") || text.isEmpty { text += component } else { text += "." + component }
        }
        return text
    }

    /// `"CodingError.<code>: <message>"`, with the offset and coding path when known.
    public var description: String {
        describe(codingPath.isEmpty ? nil : "(at \(path))", offset.map { "(byte \($0))" })
    }
}
