#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// How a child process ended, as `waitpid` reported it, with the words that name it. The public
/// `ProcessExitStatus` of JoblibParallel is built from it and borrows its texts: signal numbers
/// differ between architectures, so only this layer, which sees the C library, names them.
package enum WaitStatus: Hashable, Sendable, CustomStringConvertible {
    /// It called `exit(code)` or returned from `main`.
    case exited(Int32)
    /// A signal ended it.
    case signaled(Int32)

    /// The status word `waitpid` filled in.
    package init(rawStatus status: Int32) {
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros that Swift does not import.
        if status & 0x7F == 0 { self = .exited((status >> 8) & 0xFF) } else { self = .signaled(status & 0x7F) }
    }

    /// `exit status 3`, or `signal 11 (SIGSEGV)`.
    package var description: String {
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
        case .signaled(let signal): return "signal \(signal) (\(signalName(signal)): \(signalMeaning(signal)))"
        }
    }
}

/// The conventional name of a signal, such as `SIGKILL`.
private func signalName(_ signal: Int32) -> String {
    let names: [Int32: String] = [
        SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGTRAP: "SIGTRAP",
        SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGSEGV: "SIGSEGV",
        SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM", SIGTERM: "SIGTERM",
    ]
    return names[signal] ?? "signal \(signal)"
}

/// What a process killed by `signal` most likely ran into.
private func signalMeaning(_ signal: Int32) -> String {
    switch signal {
    case SIGILL, SIGTRAP:
        return "a Swift runtime trap: fatalError, a failed precondition, an index out of range, "
            + "an arithmetic overflow or a force-unwrapped nil"
    case SIGSEGV: return "a segmentation fault: an invalid memory access"
    case SIGBUS: return "a bus error: an invalid memory access"
    case SIGKILL: return "killed: by a timeout, from outside, or by the system's out-of-memory killer"
    case SIGABRT: return "aborted (abort(), or a C++ exception nobody caught)"
    case SIGFPE: return "an arithmetic exception such as an integer division by zero"
    case SIGTERM: return "terminated from outside"
    case SIGPIPE: return "a write to a closed pipe"
    default: return "killed by a signal"
    }
}
