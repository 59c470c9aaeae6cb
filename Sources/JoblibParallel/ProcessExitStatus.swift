import JoblibSystem

/// How a process ended: its exit code, or the signal that killed it.
///
/// A worker process's crash reports it in ``ParallelError/exitStatus``.
public enum ProcessExitStatus: Hashable, Sendable, CustomStringConvertible {
    /// It called `exit(code)` or returned from `main`.
    case exited(Int32)
    /// A signal ended it (`SIGKILL` is 9, `SIGSEGV` 11, a Swift trap `SIGILL` 4 or `SIGTRAP` 5).
    case signaled(Int32)

    /// The status a child process ended with.
    package init(_ status: WaitStatus) {
        switch status {
        case .exited(let code): self = .exited(code)
        case .signaled(let signal): self = .signaled(signal)
        }
    }

    /// The same status in JoblibSystem's terms, which names signals (their numbers are the C
    /// library's).
    private var waitStatus: WaitStatus {
        switch self {
        case .exited(let code): return .exited(code)
        case .signaled(let signal): return .signaled(signal)
        }
    }

    /// `exit status 3`, or `signal 11 (SIGSEGV)`.
    public var description: String { waitStatus.description }

    /// What the status usually means, in words, for a crash summary: `signal 4 (SIGILL: a Swift
    /// runtime trap …)`.
    package var explained: String { waitStatus.explained }
}
