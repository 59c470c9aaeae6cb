#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import CJoblibSystem

/// Writes one line to standard error (a warning for a person), ignoring failures: a warning
/// that cannot be shown must not turn into an error.
package func writeLineToStandardError(_ line: String) {
    var text = line
    if !text.hasSuffix("\n") { text += "\n" }
    text.withUTF8 { bytes in
        var done = 0
        while done < bytes.count {
            let written = write(STDERR_FILENO, bytes.baseAddress! + done, bytes.count - done)
            if written > 0 { done += written } else if written < 0 && errno == EINTR { continue } else { return }
        }
    }
}

/// Flushes the C standard output buffer (where `print` writes): a worker process does so after
/// every task, so that output printed by a task reaches a pipe or file even if the worker dies
/// later, and before the parent reports the task done.
package func flushStandardOutput() {
    _ = joblib_flush_stdout_if_pending()
}
