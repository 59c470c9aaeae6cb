import SystemPackage

/// A failed operating-system call, with the operation and the path it concerned.
///
/// Modules above `JoblibSystem` wrap it as the underlying cause of their own error type.
package struct SystemError: Error, CustomStringConvertible, Sendable {
    /// The call that failed, for example `"open"` or `"rename"`.
    package var operation: String
    /// The file it concerned, if any.
    package var path: String?
    /// The error number the kernel returned.
    package var errno: Errno
    /// What the path turned out to be when a regular file was required and something else was
    /// there (`"a FIFO (named pipe)"`, `"a character device"`…); nil for other failures.
    package var notRegularFile: String?

    package init(_ operation: String, path: String? = nil, errno: Errno, notRegularFile: String? = nil) {
        self.operation = operation
        self.path = path
        self.errno = errno
        self.notRegularFile = notRegularFile
    }

    /// What went wrong without the operation and path: `No such file or directory`, or `it is a
    /// FIFO (named pipe), not a regular file`.
    package var reason: String {
        if let notRegularFile { return "it is \(notRegularFile), not a regular file" }
        return "\(errno)"
    }

    package var description: String {
        if let path { return "\(operation) '\(path)': \(reason)" }
        return "\(operation): \(reason)"
    }
}

/// Runs a libc call that returns -1 and sets `errno` on failure, retrying on `EINTR`.
///
/// Every system call of this module goes through here, so that failures have one shape and
/// tests can make any of them fail (``InjectedSystemCallFailures``).
@inline(__always)
package func systemCall<Result: FixedWidthInteger>(
    _ operation: String,
    path: String? = nil,
    _ body: () -> Result
) throws(SystemError) -> Result {
    try systemCall(operation, path: path, failsWhen: { $0 == -1 }, body)
}

/// Runs a libc call that signals failure with a value `failed` recognises (a null or
/// `MAP_FAILED` pointer) and sets `errno`, as ``systemCall(_:path:_:)`` does for -1: retried on
/// `EINTR`, one error shape, failures injectable by tests.
@inline(__always)
package func systemCall<Result>(
    _ operation: String,
    path: String? = nil,
    failsWhen failed: (Result) -> Bool,
    _ body: () -> Result
) throws(SystemError) -> Result {
    while true {
        let error: Errno
        if let injected = InjectedSystemCallFailures.next(for: operation) {
            error = injected
        } else {
            let result = body()
            if !failed(result) { return result }
            error = Errno.current
        }
        if error == .interrupted { continue }
        throw SystemError(operation, path: path, errno: error)
    }
}

/// Runs a call that returns 0 or an error number instead of setting `errno` (`posix_spawn`,
/// the pthread functions), with the failure shape and test seam of ``systemCall(_:path:_:)``.
package func systemCallReturningError(_ operation: String, path: String? = nil, _ body: () -> CInt) throws(SystemError) {
    while true {
        let error = InjectedSystemCallFailures.next(for: operation) ?? Errno(rawValue: body())
        if error.rawValue == 0 { return }
        if error == .interrupted { continue }
        throw SystemError(operation, path: path, errno: error)
    }
}

/// Runs a libc call as ``systemCall(_:path:_:)`` does, but answers nil when it fails with one
/// of `expected`: a failure that is an answer (a missing file, a busy lock, nothing to read yet).
@inline(__always)
package func systemCall<Result: FixedWidthInteger>(
    _ operation: String,
    path: String? = nil,
    nilOn expected: [Errno],
    _ body: () -> Result
) throws(SystemError) -> Result? {
    do {
        return try systemCall(operation, path: path, body)
    } catch where expected.contains(error.errno) {
        return nil
    }
}

extension Errno {
    /// The calling thread's `errno`.
    package static var current: Errno { Errno(rawValue: systemErrno()) }
}
