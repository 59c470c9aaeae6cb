import JoblibParallel
import JoblibProcesses
import JoblibSystem
import Synchronization
import SystemPackage

// The Python side is bridge_channel.py + swift_worker.py (compiled into this module as bytes) and
// the backend's script, run in that order in one namespace, so that a built or installed
// executable needs no file beside it. Protocol: BridgeProtocol.md.

/// Frame kinds on the bridge's pipes.
package enum BridgeFrame {
    // Driver → bridge.
    package static let submit: UInt8 = 1
    package static let cancel: UInt8 = 2
    /// A large argument, once per call (bridges whose settings have an `objectThreshold`).
    package static let object: UInt8 = 3
    /// A submission that refers to objects.
    package static let submitUsingObjects: UInt8 = 4
    /// Objects the call no longer needs.
    package static let release: UInt8 = 5
    /// The bridge's counters (tests).
    package static let statistics: UInt8 = 6
    // Bridge → driver.
    package static let ready: UInt8 = 1
    package static let failed: UInt8 = 2
    package static let result: UInt8 = 3
    /// The answer to `statistics`.
    package static let counters: UInt8 = 4
}

/// One running bridge process: a client session of a cluster, with a Swift worker host on its
/// workers.
///
/// Driven by one call at a time (the pool hands it out); only ``shutDown(grace:)`` may run elsewhere.
package final class Bridge: Sendable {
    package let settings: any BridgeSettings
    package let process: ChildProcess
    private let requests: FileDescriptor
    private let replies: FileDescriptor
    private let stderr: StandardErrorDrain
    /// How many batches the cluster can run at once when the bridge started (`threads`).
    package let clusterThreads: Int
    /// What the bridge reported at start (`key=value` lines; `threads` is always there).
    package let info: [String: String]
    /// Set when the bridge can no longer be trusted (it failed, or the cluster went away).
    package let broken = Atomic<Bool>(false)
    private let closed = Atomic<Bool>(false)
    private let lastSubmissionID = Atomic<UInt64>(0)

    /// The shared programs, run before the backend's.
    private static let sharedScripts = [
        BridgeScript(name: "bridge_channel.py", text: PackageResources.bridge_channel_py),
        BridgeScript(name: "swift_worker.py", text: PackageResources.swift_worker_py),
    ]

    /// Reads the programs from descriptor 5 (u32 name length, name, u32 text length, text; each
    /// little-endian) and runs them in order in `__main__`. Its first argument, the backend's
    /// script name, becomes `sys.argv[0]` (and names the process in `ps`).
    private static let bootstrap = """
        import sys, struct
        sys.argv = sys.argv[1:]
        data = open(5, 'rb').read(); at = 0; scope = globals()
        while at < len(data):
            size, = struct.unpack_from('<I', data, at); name = data[at + 4:at + 4 + size].decode(); at += 4 + size
            size, = struct.unpack_from('<I', data, at); text = data[at + 4:at + 4 + size]; at += 4 + size
            exec(compile(text, name, 'exec'), scope)
        """

    /// Starts a bridge and waits until it is connected, with the Swift worker host ready.
    /// - Throws: the backend's error (Python or its package missing, cluster unreachable, version
    ///   mismatch, no workers) or ``ParallelError`` `workerStartFailed`.
    package init(settings: some BridgeSettings) throws {
        self.settings = settings
        let name = settings.backendName
        guard let python = findExecutable(settings.python) else {
            throw settings.failure(
                .pythonUnavailable,
                "the \(name) backend needs Python 3, and \(settings.python) was not found"
                    + " (PATH: \(environmentValue("PATH") ?? "unset")); install Python 3 and run "
                    + "`\(settings.installCommand)`, or set \(settings.pythonOptionName)")
        }
        let arguments = try settings.arguments()
        var program = [UInt8]()
        for script in Self.sharedScripts + [settings.script] {
            for part in [Array(script.name.utf8), script.text] {
                withUnsafeBytes(of: UInt32(part.count).littleEndian) { program.append(contentsOf: $0) }
                program.append(contentsOf: part)
            }
        }
        let script = try makePipe()
        let requestPipe = try makePipe()
        let replyPipe = try makePipe()
        let errorPipe = try makePipe()
        let allEnds = [script.read, script.write, requestPipe.read, requestPipe.write, replyPipe.read, replyPipe.write, errorPipe.read, errorPipe.write]
        let process: ChildProcess
        do {
            process = try ChildProcess.spawn(
                executable: python, arguments: ["-c", Self.bootstrap, settings.script.name] + arguments, environment: currentEnvironment(),
                descriptors: [(requestPipe.read, 3), (replyPipe.write, 4), (script.read, 5)],
                standardError: errorPipe.write)
        } catch {
            allEnds.forEach { try? $0.close() }
            throw settings.failure(.pythonUnavailable, "could not start \(python) for the \(name) bridge: \(error)")
        }
        try? script.read.close()
        try? requestPipe.read.close()
        try? replyPipe.write.close()
        try? errorPipe.write.close()
        self.process = process
        self.requests = requestPipe.write
        self.replies = replyPipe.read
        self.stderr = StandardErrorDrain(fd: errorPipe.read, forward: false)

        // Python's imports, the connection, the version check, the first worker, the worker host.
        let limit = settings.startTimeout
        do {
            // Written after the start: the programs may not fit in the pipe's buffer, and Python
            // reads them first. A Python that dies early makes this fail (EPIPE, no signal).
            do {
                try program.withUnsafeBytes { try script.write.writeAllWithoutSignal($0) }
                try script.write.close()
            } catch {
                try? script.write.close()
            }
            guard try waitReadable(replies, timeout: limit) else {
                throw settings.failure(.bridgeFailed, "the \(name) bridge did not become ready within \(limit)")
            }
            guard let (kind, body) = try Self.receive(replies, settings) else {
                let status = process.wait()
                let tail = stderr.tailAfterExit()
                if tail.contains("No module named") || tail.contains("SyntaxError") {
                    throw settings.failure(
                        .pythonUnavailable,
                        "\(python) cannot run the \(name) bridge (\(status)); it needs Python 3.9 or later with "
                            + "`\(settings.installCommand)`. Its output:\n\(tail)")
                }
                throw settings.failure(.bridgeFailed, "the \(name) bridge ended before it was ready (\(status)); its output:\n\(tail)")
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
                throw settings.failure(frame: body)
            default:
                throw settings.failure(.bridgeFailed, "the \(name) bridge sent frame kind \(kind) before it was ready")
            }
        } catch {
            requests.closeQuietly()
            _ = process.wait(timeout: .seconds(5)) ?? { process.kill(); return process.wait() }()
            replies.closeQuietly()
            stderr.join()
            throw error
        }
    }

    /// An id for a `submit` frame, never used before on this bridge.
    package func nextSubmissionID() -> UInt64 { lastSubmissionID.add(1, ordering: .relaxed).newValue }

    /// Sends a request frame.
    package func send(_ kind: UInt8, _ body: [UInt8]) throws {
        try send(kind, head: [], body)
    }

    /// Sends a request frame whose body is `head` then `body`, without copying them into one
    /// buffer (an object's bytes may be large). One thread sends at a time (the call's).
    package func send(_ kind: UInt8, head: [UInt8], _ body: [UInt8]) throws {
        var header = [UInt8]()
        header.reserveCapacity(9 + head.count)
        withUnsafeBytes(of: UInt64(head.count + body.count).littleEndian) { header.append(contentsOf: $0) }
        header.append(kind)
        header.append(contentsOf: head)
        try header.withUnsafeBytes { try requests.writeAllWithoutSignal($0) }
        try body.withUnsafeBytes { try requests.writeAllWithoutSignal($0) }
    }

    /// The bridge's counters (`key=value`; BridgeProtocol.md, "Objects"), asked between calls;
    /// nil when it does not answer within `timeout`. Replies of earlier calls still in the pipe
    /// are skipped. For tests.
    package func statistics(timeout: Duration) throws -> [String: String]? {
        try send(BridgeFrame.statistics, [])
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            switch try receive(timeout: .milliseconds(100)) {
            case .frame(BridgeFrame.counters, let body):
                var counters: [String: String] = [:]
                for line in String(decoding: body, as: UTF8.self).split(separator: "\n") {
                    let parts = line.split(separator: "=", maxSplits: 1)
                    if parts.count == 2 { counters[String(parts[0])] = String(parts[1]) }
                }
                return counters
            case .closed:
                return nil
            case .frame, .timedOut:
                continue
            }
        }
        return nil
    }

    /// The next reply, waiting at most `timeout`: `.timedOut`, `.frame`, or `.closed` when the
    /// bridge ended.
    package func receive(timeout: Duration) throws -> Reply {
        guard try waitReadable(replies, timeout: timeout) else { return .timedOut }
        guard let (kind, body) = try Self.receive(replies, settings) else { return .closed }
        return .frame(kind, body)
    }

    package enum Reply {
        case timedOut
        case frame(UInt8, [UInt8])
        case closed
    }

    /// What the bridge printed last (Python tracebacks, the cluster's errors).
    package var stderrTail: String { stderr.tail }

    private static func receive(_ fd: FileDescriptor, _ settings: any BridgeSettings) throws -> (UInt8, [UInt8])? {
        let name = settings.backendName
        var header = [UInt8](repeating: 0, count: 9)
        let count = try header.withUnsafeMutableBytes { try fd.readFully($0) }
        if count == 0 { return nil }
        guard count == 9 else { throw settings.failure(.bridgeFailed, "the \(name) bridge's reply ended inside a frame header") }
        var length: UInt64 = 0
        for shift in 0..<8 { length |= UInt64(header[shift]) << (8 * UInt64(shift)) }
        guard length < UInt64(Int.max) else { throw settings.failure(.bridgeFailed, "the \(name) bridge sent a frame of \(length) bytes") }
        var body = [UInt8](repeating: 0, count: Int(length))
        let bodyCount = try body.withUnsafeMutableBytes { try fd.readFully($0) }
        guard bodyCount == body.count else { throw settings.failure(.bridgeFailed, "the \(name) bridge's reply ended inside a frame") }
        return (header[8], body)
    }

    /// Whether the process still runs and nothing went wrong with it.
    package var isUsable: Bool { !broken.load(ordering: .relaxed) && !closed.load(ordering: .relaxed) && process.poll() == nil }

    /// Closes the request pipe: the bridge cancels what is pending, stops its Swift workers on the
    /// cluster, disconnects and exits. Killed after `grace`.
    package func shutDown(grace: Duration = .seconds(5)) {
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
