#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import CJoblibSystem
import SystemPackage

// A lock that several processes take on one byte of a file, for the cache's "compute a key once"
// (JoblibMemory, CacheLayout.md): one lock file per function, one byte per key, so a miss creates
// and removes no file. Open-file-description locks (F_OFD_SETLK): held by one open of the file,
// so two threads of one process exclude each other too, and released by the kernel when the
// descriptor closes, which includes the death of the process by any signal. No stale lock can
// outlive its holder, so nothing ever has to be cleaned up by hand.
//
// Waiting does not poll the lock: the waiter watches the lock file with inotify, and the holder's
// close (explicit or at its death) wakes it. A slow re-check (`recheckInterval`) covers what
// inotify cannot see: holders on another machine of a network file system.

/// A wake-up another thread can send to a ``FileLock`` wait (an eventfd): used for cancellation.
package final class WakeSignal: Sendable {
    package let fd: CInt

    package init() throws(SystemError) {
        fd = try systemCall("eventfd") { joblib_eventfd() }
    }

    /// Wakes the wait; later waits on this signal return at once.
    package func signal() {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { write(fd, $0.baseAddress!, 8) }
    }

    deinit { close(fd) }
}

/// An exclusive lock on one byte of a file, shared between processes and threads; see the notes above.
package final class FileLock {
    package let path: FilePath
    /// The byte locked (locks on different bytes of one file are independent).
    package let offset: Int64
    private let fd: CInt
    private(set) package var isLocked = false
    /// How often a wait looks again without an event (holders on other machines send none).
    package static let recheckInterval: Duration = .seconds(1)

    /// Opens (creating it if needed) the lock file `path`, to lock its byte at `offset`; it must
    /// be a regular file.
    package init(_ path: FilePath, offset: Int64 = 0) throws(SystemError) {
        self.path = path
        self.offset = offset
        let fd = try systemCall("open", path: path.string) { joblib_open_nonblocking(path.string, O_RDWR | O_CREAT, 0o644) }
        var info = stat()
        do throws(SystemError) {
            _ = try systemCall("fstat", path: path.string) { fstat(fd, &info) }
        } catch {
            close(fd)
            throw error
        }
        if info.st_mode & S_IFMT != S_IFREG {
            close(fd)
            throw SystemError("open", path: path.string, errno: .invalidArgument, notRegularFile: nonRegularFileKind(mode: info.st_mode))
        }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Takes the lock if it is free. False when another holder has it; throws when the file
    /// system does not support locks (`ENOLCK`, `EOPNOTSUPP`, `ENOSYS`, `EINVAL`).
    package func tryLock() throws(SystemError) -> Bool {
        let taken = try systemCall("fcntl(F_OFD_SETLK)", path: path.string, nilOn: [.resourceTemporarilyUnavailable, .permissionDenied]) {
            joblib_ofd_write_lock(fd, 0, offset)
        }
        isLocked = taken != nil
        return isLocked
    }

    /// Releases the lock (closing the lock also releases it).
    package func unlock() {
        guard isLocked else { return }
        _ = joblib_ofd_unlock(fd, offset)
        isLocked = false
    }

    /// How a ``wait(deadline:wake:done:)`` ended.
    package enum WaitOutcome: Equatable, Sendable {
        /// The lock is now held by this object.
        case locked
        /// `done` returned true (what the holder was making is there).
        case done
        /// The deadline passed first.
        case timedOut
        /// `wake` was signalled.
        case woken
    }

    /// Waits until the lock is free and takes it, until `done()` says the wait is no longer
    /// needed, until `deadline` (a ``monotonicNanoseconds()`` time) or until `wake` is signalled.
    ///
    /// `done` runs before each attempt to take the lock: first at once, then after each event on
    /// the lock file (a holder closing it) and every ``recheckInterval`` without events.
    package func wait(deadline: UInt64, wake: WakeSignal?, done: () -> Bool) throws(SystemError) -> WaitOutcome {
        // Uncontended (the usual case): no watch at all. Closing an inotify instance costs
        // milliseconds (the kernel waits for a grace period), far more than the lock itself.
        if done() { return .done }
        if try tryLock() { return .locked }
        let inotify = joblib_inotify_init()
        defer { if inotify >= 0 { close(inotify) } }
        // Watch before the next attempt, so that a release between the attempt and the wait is
        // not missed. /proc/self/fd names the very file we opened, even if its name was unlinked.
        if inotify >= 0 { _ = joblib_inotify_watch_release(inotify, "/proc/self/fd/\(fd)") }
        let recheck = UInt64(Self.recheckInterval.components.seconds) * 1_000_000_000
        while true {
            if done() { return .done }
            if try tryLock() { return .locked }
            let now = monotonicNanoseconds()
            if now >= deadline { return .timedOut }
            let timeout = Int32(min(deadline - now, recheck) / 1_000_000 + 1)
            var fds = [pollfd(fd: inotify, events: Int16(POLLIN), revents: 0), pollfd(fd: wake?.fd ?? -1, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, 2, timeout)
            if ready < 0 && Errno.current != .interrupted { throw SystemError("poll", errno: .current) }
            if fds[1].revents != 0 { return .woken }
            if fds[0].revents != 0 { drain(inotify) }
        }
    }

    private func drain(_ inotify: CInt) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while buffer.withUnsafeMutableBytes({ read(inotify, $0.baseAddress!, $0.count) }) > 0 {}
    }
}
