#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

// Only the C library's signal numbers are used here (they differ between architectures); the
// calls that produce a status live in JoblibSystem.

/// How a process ended: its exit code, or the signal that killed it.
public enum ProcessExitStatus: Hashable, Sendable, CustomStringConvertible {
    /// It called `exit(code)` or returned from `main`.
    case exited(Int32)
    /// A signal ended it (`SIGKILL` is 9, `SIGSEGV` 11, a Swift trap `SIGILL` 4 or `SIGTRAP` 5).
    case signaled(Int32)

    /// The status `waitpid` reported.
    package init(waitStatus status: Int32) {
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros that Swift does not import.
        if status & 0x7F == 0 { self = .exited((status >> 8) & 0xFF) } else { self = .signaled(status & 0x7F) }
    }

    /// `exit status 3`, or `signal 11 (SIGSEGV)`.
    public var description: String {
        switch self {
        case .exited(let code): return "exit status \(code)"
        case .signaled(let signal): return "signal \(signal) (\(signalName(signal)))"
        }
    }

    /// What the status usually means, in words, for a crash summary: `signal 4 (SIGILL: a Swift
    /// runtime trap …)`.
    package var explained: String {
        switch self {
        case .exited(0): return "exit status 0 (the task called exit(0))"
        case .exited(let code): return "exit status \(code) (the task called exit)"
        case .signaled(let signal):
            let meaning: String
            switch signal {
            case SIGILL, SIGTRAP:
                meaning = "a Swift runtime trap: fatalError, a failed precondition, an index out of range, "
                    + "an arithmetic overflow or a force-unwrapped nil"
            case SIGSEGV: meaning = "a segmentation fault: an invalid memory access"
            case SIGBUS: meaning = "a bus error: an invalid memory access"
            case SIGKILL: meaning = "killed: by a timeout, from outside, or by the system's out-of-memory killer"
            case SIGABRT: meaning = "aborted (abort(), or a C++ exception nobody caught)"
            case SIGFPE: meaning = "an arithmetic exception such as an integer division by zero"
            case SIGTERM: meaning = "terminated from outside"
            case SIGPIPE: meaning = "a write to a closed pipe"
            default: meaning = "killed by a signal"
            }
            return "signal \(signal) (\(signalName(signal)): \(meaning))"
        }
    }
}

/// The conventional name of a signal, such as `SIGKILL`.
package func signalName(_ signal: Int32) -> String {
    let names: [Int32: String] = [
        SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGTRAP: "SIGTRAP",
        SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGSEGV: "SIGSEGV",
        SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM", SIGTERM: "SIGTERM",
    ]
    return names[signal] ?? "signal \(signal)"
}
