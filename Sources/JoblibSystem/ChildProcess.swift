#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import CJoblibSystem
import SystemPackage
import Synchronization

/// A process started with `posix_spawn` (no `fork`: the Swift runtime's locks are not fork-safe).
///
/// The child gets exactly the descriptors in `descriptors` (parent descriptor → number in the
/// child) besides 0, 1 and 2; everything else is closed, signal dispositions are reset and the
/// signal mask is empty. The owner must ``wait()`` for it, or ``kill(_:)`` and then wait.
package final class ChildProcess: Sendable {
    package let pid: pid_t
    /// Names this very process for signals: unlike the pid, it cannot come to mean another
    /// process once this one is reaped (-1 where pidfds are unavailable).
    private let pidfd: Int32
    /// The status once reaped: later polls and waits answer from here (waitpid would fail).
    private let reaped = Mutex<WaitStatus?>(nil)

    /// A descriptor that becomes readable when the process ends (its pidfd), to wait for that
    /// alongside its output; nil where pidfds are unavailable.
    package var exitDescriptor: FileDescriptor? { pidfd >= 0 ? FileDescriptor(rawValue: pidfd) : nil }

    private init(pid: pid_t) {
        self.pid = pid
        self.pidfd = joblib_pidfd_open(pid)
    }

    deinit {
        if pidfd >= 0 { close(pidfd) }
    }

    package static func spawn(
        executable: String,
        arguments: [String],
        environment: [String: String],
        descriptors: [(parent: FileDescriptor, child: Int32)] = [],
        standardError: FileDescriptor? = nil
    ) throws(SystemError) -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        // Every mapping goes through a temporary number above all sources and targets first, so
        // that one mapping's target can never clobber another's source; then everything that is
        // not a target is closed (descriptors opened elsewhere in this process without
        // close-on-exec must not leak into workers).
        var mappings = descriptors.map { (parent: $0.parent.rawValue, child: $0.child) }
        if let standardError { mappings.append((standardError.rawValue, 2)) }
        let base = (mappings.map { max($0.parent, $0.child) }.max() ?? 2) + 1
        for (offset, mapping) in mappings.enumerated() {
            posix_spawn_file_actions_adddup2(&actions, mapping.parent, base + Int32(offset))
        }
        for (offset, mapping) in mappings.enumerated() {
            posix_spawn_file_actions_adddup2(&actions, base + Int32(offset), mapping.child)
        }
        let targets = Set(mappings.map(\.child))
        let highest = max(targets.max() ?? 2, 2)
        for fd in Int32(3)..<highest + 1 where !targets.contains(fd) {
            posix_spawn_file_actions_addclose(&actions, fd)  // glibc ignores EBADF here
        }
        _ = joblib_spawn_add_closefrom(&actions, highest + 1)

        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = ([executable] + arguments).map { strdup($0) }
        let envp = environment.map { strdup("\($0.key)=\($0.value)") }
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        try systemCallReturningError("posix_spawn", path: executable) {
            (argv + [nil]).withUnsafeBufferPointer { argvBuffer in
                (envp + [nil]).withUnsafeBufferPointer { envpBuffer in
                    posix_spawn(
                        &pid, executable, &actions, &attributes,
                        UnsafeMutablePointer(mutating: argvBuffer.baseAddress!),
                        UnsafeMutablePointer(mutating: envpBuffer.baseAddress!))
                }
            }
        }
        return ChildProcess(pid: pid)
    }

    /// The process's resident memory in bytes, from `/proc/PID/statm` (nil once it is gone).
    package var residentBytes: Int? {
        guard let text = readSystemFile("/proc/\(pid)/statm") else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * systemPageSize
    }

    /// Sends `signal` (default `SIGKILL`). A process that already ended, or was reaped, is not
    /// an error, and no other process that reuses its pid can receive the signal.
    package func kill(_ signal: Int32 = SIGKILL) {
        if reaped.withLock({ $0 }) != nil { return }
        if pidfd >= 0 {
            _ = joblib_pidfd_send_signal(pidfd, signal)
        } else {
            _ = Glibc.kill(pid, signal)
        }
    }

    /// The exit status if the process has ended (and reaps it), nil if it still runs.
    package func poll() -> WaitStatus? {
        reaped.withLock { reaped in
            if let reaped { return reaped }
            var status: Int32 = 0
            while true {
                let result = waitpid(pid, &status, WNOHANG)
                if result == pid {
                    reaped = WaitStatus(rawStatus: status)
                    return reaped
                }
                if result == -1 && Errno.current == .interrupted { continue }
                return nil
            }
        }
    }

    /// Waits until the process ends and reaps it.
    package func wait() -> WaitStatus {
        if let status = reaped.withLock({ $0 }) { return status }
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, 0)
            if result == pid {
                let exit = WaitStatus(rawStatus: status)
                reaped.withLock { $0 = exit }
                return exit
            }
            if result == -1 && Errno.current == .interrupted { continue }
            // ECHILD: reaped meanwhile by another thread of ours, or by someone else (then report
            // it as killed, which is the safe reading).
            return reaped.withLock { $0 } ?? .signaled(SIGKILL)
        }
    }

    /// Waits up to `timeout` for the process to end and reaps it; nil if it still runs.
    package func wait(timeout: Duration) -> WaitStatus? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let status = poll() { return status }
            if ContinuousClock.now >= deadline { return nil }
            usleep(5_000)
        }
    }

    /// Asks the process to stop (`SIGTERM`), waits up to `grace`, then kills it; reaps it.
    package func terminate(grace: Duration = .milliseconds(200)) -> WaitStatus {
        kill(SIGTERM)
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline {
            if let status = poll() { return status }
            usleep(2_000)
        }
        kill(SIGKILL)
        return wait()
    }
}

/// A pipe whose two ends are close-on-exec (a child gets an end only through `descriptors`).
package func makePipe() throws(SystemError) -> (read: FileDescriptor, write: FileDescriptor) {
    var fds: [Int32] = [-1, -1]
    _ = try systemCall("pipe2") { joblib_pipe_cloexec(&fds) }
    return (FileDescriptor(rawValue: fds[0]), FileDescriptor(rawValue: fds[1]))
}

/// The executable of this process (`/proc/self/exe`, resolved), which workers re-execute.
package func currentExecutablePath() throws(SystemError) -> String {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let count = try systemCall("readlink", path: "/proc/self/exe") {
        readlink("/proc/self/exe", &buffer, buffer.count - 1)
    }
    return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// This process's id and its parent's.
package var currentProcessID: Int32 { getpid() }
package var parentProcessID: Int32 { getppid() }

/// Waits until `fd` is readable or `timeout` passes; true when readable (or closed).
package func waitReadable(_ fd: FileDescriptor, timeout: Duration?) throws(SystemError) -> Bool {
    var entry = pollfd(fd: fd.rawValue, events: Int16(POLLIN), revents: 0)
    let milliseconds: Int32
    if let timeout {
        let (seconds, attoseconds) = timeout.components
        milliseconds = Int32(clamping: max(0, seconds * 1000 + attoseconds / 1_000_000_000_000_000))
    } else {
        milliseconds = -1
    }
    let ready = try systemCall("poll") { Glibc.poll(&entry, 1, milliseconds) }
    return ready > 0
}
