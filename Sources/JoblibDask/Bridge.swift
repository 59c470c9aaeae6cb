import JoblibParallel
import JoblibProcesses
import JoblibSystem
import Synchronization
import SystemPackage

// The Python side is dask_bridge.py, compiled into this module as bytes (`.embedInCode`), so
// that a built or installed executable needs no file beside it. Protocol: BridgeProtocol.md.

/// Frame kinds on the bridge's pipes.
enum BridgeFrame {
    // Driver → bridge.
    static let submit: UInt8 = 1
    static let cancel: UInt8 = 2
    // Bridge → driver.
    static let ready: UInt8 = 1
    static let failed: UInt8 = 2
    static let result: UInt8 = 3
}

/// One running bridge process: a Dask client session with the plugin installed on the workers.
///
/// Driven by one call at a time (the pool hands it out); only ``shutDown(grace:)`` may run elsewhere.
final class Bridge: Sendable {
    let process: ChildProcess
    private let requests: FileDescriptor
    private let replies: FileDescriptor
    private let stderr: StandardErrorDrain
    /// Total threads of the cluster's workers when the bridge started.
    let clusterThreads: Int
    /// What the bridge reported at start (`python`, `dask`, `distributed`, `workers`, `threads`).
    let info: [String: String]
    /// Set when the bridge can no longer be trusted (it failed, or the scheduler went away).
    let broken = Atomic<Bool>(false)
    private let closed = Atomic<Bool>(false)
    private let lastSubmissionID = Atomic<UInt64>(0)

    /// Starts a bridge and waits until it is connected, with the plugin on every worker.
    /// - Throws: ``DaskError`` (Python or Dask missing, scheduler unreachable, version mismatch,
    ///   no workers) or ``ParallelError`` `workerStartFailed` (the Swift worker cannot start there).
    init(settings: DaskSettings) throws {
        let options = settings.options
        guard let python = findExecutable(options.python) else {
            throw DaskError(
                .pythonUnavailable,
                "the Dask backend needs Python 3 with dask.distributed, and \(options.python) was not found"
                    + " (PATH: \(environmentValue("PATH") ?? "unset")); install Python 3 and run "
                    + "`python3 -m pip install 'dask[distributed]==\(Self.pinnedVersion)'`, or set DaskOptions.python")
        }
        let executable = try options.workerExecutable ?? currentExecutablePath()
        let script = try makePipe()
        let requestPipe = try makePipe()
        let replyPipe = try makePipe()
        let errorPipe = try makePipe()
        let allEnds = [script.read, script.write, requestPipe.read, requestPipe.write, replyPipe.read, replyPipe.write, errorPipe.read, errorPipe.write]
        // The program text fits in the pipe's buffer, so it is written before Python starts.
        do {
            try PackageResources.dask_bridge_py.withUnsafeBytes { try script.write.writeAllWithoutSignal($0) }
            try script.write.close()
        } catch {
            allEnds.forEach { try? $0.close() }
            throw DaskError(.bridgeFailed, "could not hand the bridge program to Python: \(error)")
        }
        let arguments = [
            "-c", "import sys; sys.argv[0] = 'dask_bridge.py'; exec(compile(open(5, 'rb').read(), 'dask_bridge.py', 'exec'))",
            "--scheduler", settings.scheduler, "--executable", executable,
            "--check-executable", options.checksWorkerExecutable ? "1" : "0",
            "--connect-timeout", Self.seconds(options.connectTimeout),
            "--no-workers-timeout", Self.seconds(options.noWorkersTimeout),
            "--scatter-threshold", String(options.scatterThreshold.bytes),
            "--pinned-version", Self.pinnedVersion,
        ]
        let process: ChildProcess
        do {
            process = try ChildProcess.spawn(
                executable: python, arguments: arguments, environment: currentEnvironment(),
                descriptors: [(requestPipe.read, 3), (replyPipe.write, 4), (script.read, 5)],
                standardError: errorPipe.write)
        } catch {
            allEnds.forEach { try? $0.close() }
            throw DaskError(.pythonUnavailable, "could not start \(python) for the Dask bridge: \(error)")
        }
        try? script.read.close()
        try? requestPipe.read.close()
        try? replyPipe.write.close()
        try? errorPipe.write.close()
        self.process = process
        self.requests = requestPipe.write
        self.replies = replyPipe.read
        self.stderr = StandardErrorDrain(fd: errorPipe.read, forward: false)

        // Python's imports, the connection, the version check, the first worker, the plugin.
        let limit = options.connectTimeout + options.noWorkersTimeout + .seconds(60)
        do {
            guard try waitReadable(replies, timeout: limit) else {
                throw DaskError(.bridgeFailed, "the Dask bridge did not become ready within \(limit)")
            }
            guard let (kind, body) = try Self.receive(replies) else {
                let status = process.wait()
                let tail = stderr.tailAfterExit()
                if tail.contains("No module named") || tail.contains("SyntaxError") {
                    throw DaskError(
                        .pythonUnavailable,
                        "\(python) cannot run the Dask bridge (\(status)); it needs Python 3.9 or later with "
                            + "`pip install 'dask[distributed]==\(Self.pinnedVersion)'`. Its output:\n\(tail)")
                }
                throw DaskError(.bridgeFailed, "the Dask bridge ended before it was ready (\(status)); its output:\n\(tail)")
            }
            switch kind {
            case BridgeFrame.ready:
                var info: [String: String] = [:]
                for line in String(decoding: body, as: UTF8.self).split(separator: "\n") {
                    let parts = line.split(separator: "=", maxSplits: 1)
                    if parts.count == 2 { info[String(parts[0])] = String(parts[1]) }
                }
                self.info = info
                self.clusterThreads = max(1, Int(info["threads"] ?? "") ?? 1)
            case BridgeFrame.failed:
                throw Self.startError(body)
            default:
                throw DaskError(.bridgeFailed, "the Dask bridge sent frame kind \(kind) before it was ready")
            }
        } catch {
            requests.closeQuietly()
            _ = process.wait(timeout: .seconds(5)) ?? { process.kill(); return process.wait() }()
            replies.closeQuietly()
            stderr.join()
            throw error
        }
    }

    /// The dask/distributed version the package is tested with (`scripts/setup.sh` installs it).
    static let pinnedVersion = "2026.8.0"

    private static func seconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return String(Double(seconds) + Double(attoseconds) / 1e18)
    }

    /// The error a `failed` frame describes.
    static func startError(_ body: [UInt8]) -> any Error {
        let message = String(decoding: body.dropFirst(), as: UTF8.self)
        switch body.first ?? 0 {
        case 1: return DaskError(.distributedUnavailable, message)
        case 2: return DaskError(.schedulerUnreachable, message)
        case 3: return DaskError(.versionMismatch, message)
        case 4: return DaskError(.noWorkers, message)
        case 5: return ParallelError(.workerStartFailed, message)
        case 6: return DaskError(.taskLost, message)
        case 7: return DaskError(.schedulerLost, message)
        default: return DaskError(.bridgeFailed, message)
        }
    }

    /// An id for a `submit` frame, never used before on this bridge (its Dask key is derived from it).
    func nextSubmissionID() -> UInt64 { lastSubmissionID.add(1, ordering: .relaxed).newValue }

    /// Sends a request frame.
    func send(_ kind: UInt8, _ body: [UInt8]) throws {
        var frame = [UInt8]()
        frame.reserveCapacity(9 + body.count)
        withUnsafeBytes(of: UInt64(body.count).littleEndian) { frame.append(contentsOf: $0) }
        frame.append(kind)
        frame.append(contentsOf: body)
        try frame.withUnsafeBytes { try requests.writeAllWithoutSignal($0) }
    }

    /// The next reply, waiting at most `timeout`: `.timedOut`, `.frame`, or `.closed` when the
    /// bridge ended.
    func receive(timeout: Duration) throws -> Reply {
        guard try waitReadable(replies, timeout: timeout) else { return .timedOut }
        guard let (kind, body) = try Self.receive(replies) else { return .closed }
        return .frame(kind, body)
    }

    enum Reply {
        case timedOut
        case frame(UInt8, [UInt8])
        case closed
    }

    /// What the bridge printed last (Python tracebacks, Dask's errors).
    var stderrTail: String { stderr.tail }

    private static func receive(_ fd: FileDescriptor) throws -> (UInt8, [UInt8])? {
        var header = [UInt8](repeating: 0, count: 9)
        let count = try header.withUnsafeMutableBytes { try fd.readFully($0) }
        if count == 0 { return nil }
        guard count == 9 else { throw DaskError(.bridgeFailed, "the Dask bridge's reply ended inside a frame header") }
        var length: UInt64 = 0
        for shift in 0..<8 { length |= UInt64(header[shift]) << (8 * UInt64(shift)) }
        guard length < UInt64(Int.max) else { throw DaskError(.bridgeFailed, "the Dask bridge sent a frame of \(length) bytes") }
        var body = [UInt8](repeating: 0, count: Int(length))
        let bodyCount = try body.withUnsafeMutableBytes { try fd.readFully($0) }
        guard bodyCount == body.count else { throw DaskError(.bridgeFailed, "the Dask bridge's reply ended inside a frame") }
        return (header[8], body)
    }

    /// Whether the process still runs and nothing went wrong with it.
    var isUsable: Bool { !broken.load(ordering: .relaxed) && !closed.load(ordering: .relaxed) && process.poll() == nil }

    /// Closes the request pipe: the bridge cancels what is pending, removes its plugin from the
    /// workers (which stops their Swift workers), closes the client and exits. Killed after `grace`.
    func shutDown(grace: Duration = .seconds(5)) {
        guard !closed.exchange(true, ordering: .relaxed) else { return }
        requests.closeQuietly()
        if process.wait(timeout: grace) == nil {
            process.kill()
            _ = process.wait()
        }
        replies.closeQuietly()
        stderr.join()
    }
}

extension FileDescriptor {
    fileprivate func closeQuietly() { try? close() }

    /// Reads until `buffer` is full or end of file; returns how much was read.
    fileprivate func readFully(_ buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var done = 0
        while done < buffer.count {
            let count = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]), retryOnInterrupt: true)
            if count == 0 { break }
            done += count
        }
        return done
    }
}

extension StandardErrorDrain {
    /// The tail once the process has ended (its last words may still be in the pipe).
    fileprivate func tailAfterExit() -> String {
        join()
        return tail
    }
}

/// Idle bridges kept between calls with the same settings (starting one costs Python's imports
/// and a connection, about a second), shut down at exit.
final class BridgePool: Sendable {
    let settings: DaskSettings
    private let idle = Mutex<[Bridge]>([])
    private static let pools = Mutex<[DaskSettings: BridgePool]>([:])
    private static let exitHookInstalled = Atomic<Bool>(false)

    private init(settings: DaskSettings) { self.settings = settings }

    static func pool(for settings: DaskSettings) -> BridgePool {
        if !exitHookInstalled.exchange(true, ordering: .relaxed) {
            runAtExit { BridgePool.shutDownAll() }
        }
        return pools.withLock { pools in
            if let pool = pools[settings] { return pool }
            let pool = BridgePool(settings: settings)
            pools[settings] = pool
            return pool
        }
    }

    /// Stops every idle bridge (at exit; tests call it to check that nothing is left).
    static func shutDownAll() {
        let all = pools.withLock { Array($0.values) }
        for pool in all {
            let bridges = pool.idle.withLock { idle -> [Bridge] in
                defer { idle.removeAll() }
                return idle
            }
            for bridge in bridges { bridge.shutDown() }
        }
    }

    /// An idle bridge that still works, or a new one.
    func checkOut() throws -> Bridge {
        while let bridge = idle.withLock({ $0.popLast() }) {
            if bridge.isUsable { return bridge }
            bridge.shutDown(grace: .milliseconds(200))
        }
        return try Bridge(settings: settings)
    }

    func checkIn(_ bridge: Bridge) {
        if bridge.isUsable {
            idle.withLock { $0.append(bridge) }
        } else {
            bridge.shutDown(grace: .seconds(2))
        }
    }
}
