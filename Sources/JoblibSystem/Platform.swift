#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

@inline(__always) package func systemErrno() -> Int32 { errno }

/// Makes a write to a closed pipe fail with `EPIPE` instead of killing the process with
/// `SIGPIPE` (as Python does at start-up), unless the program installed a handler of its own.
/// Called before the first worker process starts: a write to a worker that just died is then a
/// worker death, never the caller's.
package func ignoreBrokenPipeSignals() {
    var current = sigaction()
    guard sigaction(SIGPIPE, nil, &current) == 0 else { return }
    // `sa_handler` is a union member in C; SIG_DFL is the null handler.
    guard current.__sigaction_handler.sa_handler == nil else { return }
    signal(SIGPIPE, SIG_IGN)
}
