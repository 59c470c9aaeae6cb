import JoblibCoding
import JoblibSystem
import SystemPackage

/// Why `dump`, `load` or the `.npy` functions failed.
///
/// Match on ``code`` (stable across releases); ``message`` is a sentence for people.
public struct PersistenceError: Error, CustomStringConvertible, Sendable, JoblibError {
    /// A stable identifier of the kind of failure.
    public struct Code: JoblibErrorCode {
        /// The stable name of the code, for example `"checksumMismatch"`.
        public var rawValue: String
        /// A code from its stable name.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// The file is not a swift-joblib container (nor a compressed one), or not a `.npy` file.
        public static let notOurFile = Code(rawValue: "notOurFile")
        /// The file was written by a newer version of the format than this library reads.
        public static let newerFormatVersion = Code(rawValue: "newerFormatVersion")
        /// The file ends before its content does (a partial copy or an interrupted transfer).
        public static let truncated = Code(rawValue: "truncated")
        /// Stored data does not match its checksum: the file was corrupted after it was written.
        public static let checksumMismatch = Code(rawValue: "checksumMismatch")
        /// The file holds a different type of value than the one asked for.
        public static let typeMismatch = Code(rawValue: "typeMismatch")
        /// A header, offset, length, count or shape is impossible.
        public static let corruptHeader = Code(rawValue: "corruptHeader")
        /// The compressed stream is invalid.
        public static let decompressionFailed = Code(rawValue: "decompressionFailed")
        /// The compressor failed (out of memory, or an invalid level).
        public static let compressionFailed = Code(rawValue: "compressionFailed")
        /// The value could not be encoded (its `Encodable` conformance misused the encoder, or threw).
        public static let encodingFailed = Code(rawValue: "encodingFailed")
        /// An argument can never work (a compression level out of range, say).
        public static let invalidArgument = Code(rawValue: "invalidArgument")
        /// A feature the file uses cannot be served: a `.npy` file with object arrays or a
        /// structured dtype, or a small array stored inline asked for with a `.readWrite` mapping.
        public static let unsupportedFeature = Code(rawValue: "unsupportedFeature")
        /// The operating system refused an operation (open, read, write, rename, mmap…).
        public static let io = Code(rawValue: "io")
        /// The path names a FIFO, a device, a socket, a directory or a generated file (/proc,
        /// /sys), not a regular file: it is refused without reading (nothing waits on it).
        public static let notRegularFile = Code(rawValue: "notRegularFile")
        /// The data is larger than the load accepts (its `maximumSize`): the file declares more,
        /// or its compressed stream expands past it (a decompression bomb, or a file to load
        /// with a larger `maximumSize`).
        public static let tooLarge = Code(rawValue: "tooLarge")
        /// The system refused the memory the load needed (a memory or address-space limit).
        public static let outOfMemory = Code(rawValue: "outOfMemory")
    }

    /// What kind of failure this is.
    public var code: Code
    /// A sentence saying what went wrong and, where possible, what to do.
    public var message: String
    /// The file concerned, if any.
    public var path: String?
    /// The error that caused this one (a system or coding error), if any.
    public var underlying: (any Error)?

    package init(_ code: Code, _ message: String, path: String? = nil, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.underlying = underlying
    }

    /// `"PersistenceError.<code>: <message>"`, then the file and the underlying error when the
    /// message does not already say them.
    public var description: String {
        // A wrapped system or coding error is summarised in the message (`wrapping`): its own
        // description would say the same thing again.
        let summarised = underlying is SystemError || underlying is CodingError
        return describe(
            path.flatMap { message.contains($0) ? nil : "(file '\($0)')" }, cause: summarised ? nil : underlying)
    }

    /// The same error, naming `path` if it does not name a file yet.
    func at(_ path: String?) -> PersistenceError {
        var copy = self
        if copy.path == nil { copy.path = path }
        return copy
    }
}

extension PersistenceError {
    /// Wraps whatever a load or dump threw into a `PersistenceError`. `path` is the user's file:
    /// a failure on a temporary file beside it (a dump) is reported as a failure to write `path`.
    static func wrapping(_ error: any Error, path: String?, decoding: Bool) -> PersistenceError {
        switch error {
        case let error as PersistenceError:
            return error.at(path)
        case let error as SystemError:
            return systemFailure(error, path: path, decoding: decoding)
        case let error as CodingError:
            guard decoding else {
                return PersistenceError(.encodingFailed, "the value cannot be encoded: \(error.message)\(error.codingPath.isEmpty ? "" : " (at \(error.path))")", path: path, underlying: error)
            }
            switch error.code {
            case .typeMismatch, .keyNotFound:
                return PersistenceError(.typeMismatch, typeMismatchMessage(stored: nil, requested: nil, error.message, at: error.path), path: path, underlying: error)
            default:
                // The value bytes passed their checksum, so a framing error means the writer was wrong.
                return PersistenceError(.corruptHeader, "the stored value is malformed: \(error.message)", path: path, underlying: error)
            }
        case let error as DecodingError:
            if case .dataCorrupted(let context) = error {
                return PersistenceError(.corruptHeader, "the stored value is inconsistent: \(context.debugDescription)", path: path)
            }
            return PersistenceError(.typeMismatch, "the stored value does not fit the type: \(error)", path: path)
        default:
            let code: Code = decoding ? .typeMismatch : .encodingFailed
            return PersistenceError(code, "\(error)", path: path)
        }
    }

    /// A system call's failure as one sentence that names the user's file once.
    private static func systemFailure(_ error: SystemError, path: String?, decoding: Bool) -> PersistenceError {
        let file = path ?? error.path
        let named = file.map { "'\($0)'" } ?? "the file"
        if let kind = error.notRegularFile {
            return PersistenceError(
                .notRegularFile, "cannot \(decoding ? "load" : "write") \(named): it is \(kind), not a regular file", path: file, underlying: error)
        }
        let onTemporary = !decoding && path != nil && error.path != nil && error.path != path
        let message: String
        switch (decoding, error.errno) {
        case (false, .noSuchFileOrDirectory) where onTemporary:
            let directory = FilePath(path!).removingLastComponent().string
            message = "cannot write \(named): the directory '\(directory.isEmpty ? "." : directory)' does not exist"
        case (false, _):
            message = "cannot write \(named): \(error.operation) failed: \(error.errno)"
        case (true, .noSuchFileOrDirectory) where error.operation == "open":
            message = "cannot load \(named): there is no such file"
        default:
            message = "cannot \(decoding ? "load" : "write") \(named): \(error.operation) failed: \(error.errno)"
        }
        return PersistenceError(.io, message, path: file, underlying: error)
    }
}
