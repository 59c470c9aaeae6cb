#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import CJoblibSystem
import SystemPackage

// Descriptors between a parent and its worker processes: writes that fail with EPIPE instead of
// killing the writer with SIGPIPE, close-on-exec after the fact, and waiting on a child's data
// and its exit at once. The process-wide SIGPIPE disposition is never changed (it is the user's).

/// A connected pair of close-on-exec Unix stream sockets. Writes with ``FileDescriptor/sendAll(_:)``
/// to a peer that is gone fail with `EPIPE` (no `SIGPIPE`).
package func makeSocketPair() throws(SystemError) -> (FileDescriptor, FileDescriptor) {
    var fds: [Int32] = [-1, -1]
    _ = try systemCall("socketpair") { joblib_socketpair_cloexec(&fds) }
    return (FileDescriptor(rawValue: fds[0]), FileDescriptor(rawValue: fds[1]))
}

extension FileDescriptor {
    /// Sends all of `buffer` on a socket with `MSG_NOSIGNAL`: a dead peer is the error `EPIPE`.
    package func sendAll(_ buffer: UnsafeRawBufferPointer) throws(SystemError) {
        var done = 0
        while done < buffer.count {
            let base = buffer.baseAddress! + done
            let remaining = buffer.count - done
            done += try systemCall("send") { joblib_send_nosignal(rawValue, base, remaining) }
        }
    }

    /// Writes all of `buffer` to a pipe; a reader that is gone is the error `EPIPE`, never
    /// `SIGPIPE` (the signal is blocked in this thread around the write and consumed).
    package func writeAllWithoutSignal(_ buffer: UnsafeRawBufferPointer) throws(SystemError) {
        var done = 0
        while done < buffer.count {
            let base = buffer.baseAddress! + done
            let remaining = buffer.count - done
            done += try systemCall("write") { joblib_write_nosigpipe(rawValue, base, remaining) }
        }
    }

    /// Sets or clears close-on-exec (a descriptor `dup2`ed into place has it cleared).
    package func setCloseOnExec(_ on: Bool = true) throws(SystemError) {
        _ = try systemCall("fcntl") { joblib_set_cloexec(rawValue, on ? 1 : 0) }
    }

    /// Makes reads return `EAGAIN` instead of blocking (this open file description only).
    package func setNonBlocking() throws(SystemError) {
        _ = try systemCall("fcntl") { joblib_set_nonblocking(rawValue) }
    }

    /// Reads what is available now: the byte count, 0 at end of file, nil when nothing is there
    /// (`EAGAIN` on a non-blocking descriptor).
    package func readAvailable(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int? {
        try systemCall("read", nilOn: [.resourceTemporarilyUnavailable, .wouldBlock]) { Glibc.read(rawValue, buffer.baseAddress, buffer.count) }
    }
}

/// Which of two descriptors became readable (or hung up) within `timeout` (nil: no limit).
package func waitReadable(
    _ first: FileDescriptor, or second: FileDescriptor?, timeout: Duration?
) throws(SystemError) -> (first: Bool, second: Bool) {
    let milliseconds: Int32
    if let timeout {
        let (seconds, attoseconds) = timeout.components
        // Round up: a wait of 0.3 ms must not become a busy loop of zero-length polls.
        milliseconds = Int32(clamping: max(0, seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000))
    } else {
        milliseconds = -1
    }
    var firstReady: Int32 = 0
    var secondReady: Int32 = 0
    _ = try systemCall("poll") {
        joblib_poll2(first.rawValue, second?.rawValue ?? -1, milliseconds, &firstReady, &secondReady)
    }
    return (firstReady != 0, secondReady != 0)
}

/// Blocks `SIGPIPE` in the calling thread: its writes to a broken pipe fail with `EPIPE`. For
/// threads of ours that write to descriptors a user may have closed (forwarded worker output).
package func blockBrokenPipeSignalInThisThread() {
    _ = joblib_block_sigpipe_in_thread()
}
