import Foundation
import Synchronization

/// The processes of the benchmarks' loopback clusters (Dask's scheduler and workers, Ray's nodes).
/// Each is spawned in a session (and process group) of its own and reaped here with `waitpid`;
/// stopping one is SIGTERM, then SIGKILL after a grace period, to its whole group. Not
/// Foundation's `Process`: it learns that a child ended when a socket that the child's own
/// children inherit closes, so it may never see a cluster process end (the Ray benchmark hung in
/// `waitUntilExit`). SIGINT and SIGTERM stop every process still running, and remove the
/// directories registered with them, before the benchmark exits.
enum BenchProcesses {
    /// Running processes in the order they started, with the directory to remove once they are
    /// stopped, for the signal handlers.
    private static let running = Mutex<[(pid: pid_t, directory: String)]>([])
    private static let signalSources = Mutex<[any DispatchSourceSignal]>([])

    /// `argv` (looked up in PATH) in a new session, its output and errors appended to `output`;
    /// `directory` is removed if a signal stops the benchmark.
    static func spawn(_ argv: [String], output: String, directory: String) throws -> pid_t {
        stopOnSignals()
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGPIPE] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        // glibc's POSIX_SPAWN_SETSID (0x80, a GNU extension the Glibc module does not export).
        let setsid: Int32 = 0x80
        posix_spawnattr_setflags(&attributes, Int16(setsid | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pointers: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for pointer in pointers { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawnp(&pid, argv[0], &actions, &attributes, &pointers, environ)
        guard result == 0 else { throw BenchError("could not start \(argv[0]): \(String(cString: strerror(result)))") }
        running.withLock { $0.append((pid, directory)) }
        return pid
    }

    /// Whether `pid` has ended (then it is reaped, and its group SIGKILLed: nothing of it is left).
    static func ended(_ pid: pid_t) -> Bool {
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return false }
        kill(-pid, SIGKILL)
        forget(pid)
        return true
    }

    /// SIGTERM to the process's group, SIGKILL to what is left after `grace`; reaps it.
    static func stop(_ pid: pid_t, grace: Duration = .seconds(10)) {
        kill(-pid, SIGTERM)
        var status: Int32 = 0
        var reaped = false
        let deadline = ContinuousClock.now + grace
        while !reaped && ContinuousClock.now < deadline {
            reaped = waitpid(pid, &status, WNOHANG) == pid
            if !reaped { usleep(100_000) }
        }
        kill(-pid, SIGKILL)
        if !reaped { _ = waitpid(pid, &status, 0) }
        forget(pid)
    }

    private static func forget(_ pid: pid_t) { running.withLock { $0.removeAll { $0.pid == pid } } }

    /// SIGINT or SIGTERM (a timeout, ^C) stops every running process before the benchmark exits.
    private static func stopOnSignals() {
        signalSources.withLock { sources in
            guard sources.isEmpty else { return }
            for number in [SIGINT, SIGTERM] {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler {
                    // The last started first: workers before their scheduler, nodes before the head.
                    let processes = running.withLock { $0 }
                    for process in processes.reversed() { stop(process.pid) }
                    for directory in Set(processes.map(\.directory)) { try? FileManager.default.removeItem(atPath: directory) }
                    exit(128 + number)
                }
                source.resume()
                sources.append(source)
            }
        }
    }
}
