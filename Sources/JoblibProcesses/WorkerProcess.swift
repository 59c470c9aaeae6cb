import JoblibCoding
import JoblibParallel
import JoblibSystem
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// One worker process as the parent sees it: the child, its two frame channels and the thread
/// draining its standard error.
///
/// Not thread-safe: one backend thread drives a worker at a time; only ``kill()`` and
/// ``stderrTail`` may be called from elsewhere.
final class WorkerProcess: Sendable {
    let process: ChildProcess
    private let tasks: FrameChannel
    private let results: FrameChannel
    private let stderr: StandardErrorDrain
    /// Which task the worker is running, readable after it died.
    let status: SharedWords
    /// Batches run since the worker started (for `maxTasksPerWorker`).
    let tasksRun = Atomic<Int>(0)

    var pid: Int32 { process.pid }

    /// Starts `count` workers, then waits for all their handshakes (their start-ups overlap).
    /// - Throws: ``ParallelError`` `workerStartFailed` when one cannot be spawned, dies before the
    ///   handshake, or does not answer within `handshakeTimeout`; the others are then stopped.
    static func startMany(_ count: Int, environment: [String: String], handshakeTimeout: Duration) throws -> [WorkerProcess] {
        var started: [WorkerProcess] = []
        do {
            for _ in 0..<count { started.append(try WorkerProcess(environment: environment)) }
            for worker in started { try worker.awaitHandshake(timeout: handshakeTimeout) }
            return started
        } catch {
            for worker in started { worker.shutDown(grace: .zero) }
            throw error
        }
    }

    /// Spawns a worker; it is usable after ``awaitHandshake(timeout:)``.
    private init(environment: [String: String]) throws {
        let executable = try currentExecutablePath()
        let taskPipe = try makePipe()
        let resultPipe = try makePipe()
        let errorPipe = try makePipe()
        let status = try SharedWords()
        defer { status.closeDescriptor() }
        var environment = environment
        environment[WorkerEnvironment.mode] = "ctor"
        environment[WorkerEnvironment.parentPID] = String(currentProcessID)
        let process: ChildProcess
        do {
            process = try ChildProcess.spawn(
                executable: executable, arguments: [], environment: environment,
                descriptors: [
                    (taskPipe.read, WorkerEnvironment.taskDescriptor), (resultPipe.write, WorkerEnvironment.resultDescriptor),
                    (status.fd!, WorkerEnvironment.statusDescriptor),
                ],
                standardError: errorPipe.write)
        } catch {
            [taskPipe.read, taskPipe.write, resultPipe.read, resultPipe.write, errorPipe.read, errorPipe.write]
                .forEach { try? $0.close() }
            throw ParallelError(.workerStartFailed, "could not start a worker process (\(executable)): \(error)", underlying: error)
        }
        // The child holds its own copies now; the parent keeps only its ends.
        try? taskPipe.read.close()
        try? resultPipe.write.close()
        try? errorPipe.write.close()
        self.process = process
        self.status = status
        self.tasks = FrameChannel(fd: taskPipe.write)
        self.results = FrameChannel(fd: resultPipe.read)
        self.stderr = StandardErrorDrain(fd: errorPipe.read)
        self.executable = executable
    }

    private let executable: String

    private func awaitHandshake(timeout: Duration) throws {
        guard try waitReadable(results.fd, timeout: timeout) else {
            throw ParallelError(
                .workerStartFailed,
                "the worker process \(process.pid) did not start within \(timeout): if \(executable) is linked with "
                    + "--static-swift-stdlib or loads swift-joblib as a dynamic library, call Joblib.workerMain() "
                    + "as the first statement of main")
        }
        guard let (kind, body) = try results.receive(), kind == .ready else {
            let status = process.wait()
            throw ParallelError(
                .workerStartFailed,
                "the worker process ended before it was ready (\(status)); its last output:\n\(stderr.tail)")
        }
        let ready = try BinaryDecoder().decode(ReadyMessage.self, from: body)
        guard ready.protocolVersion == workerProtocolVersion else {
            throw ParallelError(
                .workerStartFailed,
                "the worker speaks protocol version \(ready.protocolVersion), this process \(workerProtocolVersion)")
        }
    }

    func send(_ batch: BatchMessage) throws {
        try tasks.send(.batch, batch)
    }

    /// The next results, or nil when the worker's result channel closed (it died or was killed).
    func receive() throws -> ResultBatch? {
        guard let (kind, body) = try results.receive() else { return nil }
        guard kind == .results else { throw ProtocolError("unexpected frame \(kind) from a worker") }
        return try ResultBatch.parse(frameBody: body)
    }

    /// The task the worker is running now (or was running when it died), and since when.
    var runningTask: (index: Int, started: UInt64)? {
        let running = status.load(StatusWord.runningTask)
        guard running > 0 else { return nil }
        return (Int(running - 1), status.load(StatusWord.startedAt))
    }

    /// The last lines the worker wrote to standard error.
    var stderrTail: String { stderr.tail }

    /// Kills the worker at once (a timeout, or the parent shutting down).
    func kill() { process.kill(SIGKILL) }

    /// Asks the worker to exit, then terminates it if it does not; reaps it and closes everything.
    @discardableResult
    func shutDown(grace: Duration = .milliseconds(500)) -> ProcessExitStatus {
        try? tasks.send(.shutdown)
        try? tasks.fd.close()
        let status: ProcessExitStatus
        if grace > .zero {
            status = process.terminate(grace: grace)
        } else {
            process.kill(SIGKILL)
            status = process.wait()
        }
        try? results.fd.close()
        stderr.join()
        return status
    }

    /// After the result channel closed: the worker's exit status (it is killed first if it lingers).
    func reapAfterDeath() -> ProcessExitStatus {
        let status = process.poll() ?? process.terminate(grace: .milliseconds(100))
        try? tasks.fd.close()
        try? results.fd.close()
        stderr.join()
        return status
    }

    /// The worker's resident memory in bytes, from `/proc/PID/statm`.
    var residentBytes: Int? {
        guard let text = readSmallFile("/proc/\(process.pid)/statm") else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}

/// Forwards a worker's standard error to ours as it arrives (a chatty task must never block on
/// a full pipe) and keeps its last 64 KiB for error messages (a crash backtrace is long).
package final class StandardErrorDrain: Sendable {
    private static let tailLimit = 64 * 1024
    private let buffer = Mutex<[UInt8]>([])
    private let done = Mutex<Bool>(false)
    private let finished = ThreadCondition()

    /// Drains `fd` on a thread; `forward: false` only keeps the tail (a helper process whose
    /// chatter is worth showing only when it fails).
    package init(fd: FileDescriptor, forward: Bool = true) {
        do {
            try startDetachedThread(name: "joblib-stderr") { [self] in
                drain(fd, forward: forward)
            }
        } catch {
            try? fd.close()
            markDone()
        }
    }

    private func drain(_ fd: FileDescriptor, forward: Bool) {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = (try? chunk.withUnsafeMutableBytes { try fd.read(into: $0, retryOnInterrupt: true) }) ?? 0
            if count <= 0 { break }
            if forward { chunk.withUnsafeBytes { writeToStandardError(UnsafeRawBufferPointer(rebasing: $0[..<count])) } }
            buffer.withLock { tail in
                tail.append(contentsOf: chunk[..<count])
                if tail.count > Self.tailLimit { tail.removeFirst(tail.count - Self.tailLimit) }
            }
        }
        try? fd.close()
        markDone()
    }

    private func markDone() {
        finished.withLock {
            done.withLock { $0 = true }
            finished.broadcast()
        }
    }

    /// Waits until the worker's standard error reached end of file (at most 1 s after it died).
    package func join() {
        let deadline = monotonicNanoseconds() + 1_000_000_000
        finished.withLock {
            while !done.withLock({ $0 }) && monotonicNanoseconds() < deadline {
                _ = finished.wait(untilNanoseconds: deadline)
            }
        }
    }

    package var tail: String { String(decoding: buffer.withLock { $0 }, as: UTF8.self) }
}
