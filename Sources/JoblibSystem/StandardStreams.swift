#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import CJoblibSystem

// Standard output and error: warnings for people, a worker's forwarded output, progress lines.
// Writes are unbuffered, one `write` loop per call (lines from several threads do not mix), and
// failures are ignored: output that cannot be shown must not turn into an error.

/// Whether `descriptor` is an interactive terminal (`isatty`).
package func isTerminal(_ descriptor: Int32) -> Bool { isatty(descriptor) == 1 }

/// Writes `text` to standard error.
package func writeToStandardError(_ text: String) { writeIgnoringFailures(STDERR_FILENO, text) }

/// Writes raw bytes to standard error (a worker's output, forwarded as it arrives).
package func writeToStandardError(_ bytes: UnsafeRawBufferPointer) { writeIgnoringFailures(STDERR_FILENO, bytes) }

/// Writes one line to standard error (a warning for a person), adding the newline if missing.
package func writeLineToStandardError(_ line: String) {
    writeToStandardError(line.hasSuffix("\n") ? line : line + "\n")
}

/// Writes `text` to standard output, unbuffered.
package func writeToStandardOutput(_ text: String) { writeIgnoringFailures(STDOUT_FILENO, text) }

/// Flushes the C standard output buffer (where `print` writes): a worker process does so after
/// every task, so that output printed by a task reaches a pipe or file even if the worker dies
/// later, and before the parent reports the task done.
package func flushStandardOutput() {
    _ = joblib_flush_stdout_if_pending()
}

private func writeIgnoringFailures(_ descriptor: Int32, _ text: String) {
    var text = text
    text.withUTF8 { writeIgnoringFailures(descriptor, UnsafeRawBufferPointer($0)) }
}

private func writeIgnoringFailures(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) {
    var offset = 0
    while offset < bytes.count {
        let written = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
        if written < 0 && errno == EINTR { continue }
        if written <= 0 { return }
        offset += written
    }
}
