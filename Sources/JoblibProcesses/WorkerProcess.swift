import JoblibCoding
import JoblibParallel
import JoblibSystem
import Synchronization
import SystemPackage

/// One worker process as the parent sees it: the child, its two frame channels and the thread
/// draining its standard error.
///
/// Tasks go to the worker over a Unix socket (a send to a dead worker fails with `EPIPE`, never
/// `SIGPIPE`); results come back over a pipe read together with the worker's pidfd, so that its
/// end is seen when it happens. One backend thread drives a worker at a time; only ``kill()``,
/// ``runningTask`` and ``stderrTail`` are called from elsewhere.
final class WorkerProcess: Sendable {
    let process: ChildProcess
    private let tasks: FrameChannel
    private let results: Mutex<FrameReader>
    private let resultDescriptor: FileDescriptor
    private let stderr: StandardErrorDrain
    /// Which task the worker is working on, readable after it died.
    let status: SharedWords
    /// Batches run since the worker started (for `maxTasksPerWorker`).
    let tasksRun = Atomic<Int>(0)
    private let executable: String

    /// Workers started by this process so far (tests count deaths with it).
    static let startedCount = Atomic<Int>(0)

    var pid: Int32 { process.pid }

    /// Starts `count` workers, then waits for all their handshakes (their start-ups overlap).
    /// - Throws: ``ParallelError`` `workerStartFailed` when one cannot be spawned, dies before the
    ///   handshake, or does not answer within `handshakeTimeout`; the others are then stopped.
    static func startMany(_ count: Int, environment: [String: String], handshakeTimeout: Duration) throws -> [WorkerProcess] {
        // A process started as a worker that runs the program instead must not start workers.
        WorkerEnvironment.refuseToStartWorkersFromAWorker()
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
        let (taskEnd, workerTaskEnd) = try makeSocketPair()
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
                    (workerTaskEnd, WorkerEnvironment.taskDescriptor), (resultPipe.write, WorkerEnvironment.resultDescriptor),
                    (status.fd!, WorkerEnvironment.statusDescriptor),
                ],
                standardError: errorPipe.write)
        } catch {
            [taskEnd, workerTaskEnd, resultPipe.read, resultPipe.write, errorPipe.read, errorPipe.write]
                .forEach { try? $0.close() }
            throw ParallelError(.workerStartFailed, "could not start a worker process (\(executable)): \(error)", underlying: error)
        }
        Self.startedCount.add(1, ordering: .relaxed)
        // The child holds its own copies now; the parent keeps only its ends.
        try? workerTaskEnd.close()
        try? resultPipe.write.close()
        try? errorPipe.write.close()
        self.process = process
        self.status = status
        self.tasks = FrameChannel(fd: taskEnd, isSocket: true)
        self.resultDescriptor = resultPipe.read
        do {
            self.results = Mutex(try FrameReader(fd: resultPipe.read, process: process))
        } catch {
            process.kill()
            _ = process.wait()
            [taskEnd, resultPipe.read, errorPipe.read].forEach { try? $0.close() }
            throw ParallelError(.workerStartFailed, "could not set up a worker's result channel: \(error)", underlying: error)
        }
        self.stderr = StandardErrorDrain(fd: errorPipe.read, until: process)
        self.executable = executable
    }

    private func awaitHandshake(timeout: Duration) throws {
        let next = try results.withLock { try $0.next(timeout: timeout) }
        switch next {
        case .frame(.ready, let body):
            let ready = try BinaryDecoder().decode(ReadyMessage.self, from: body)
            guard ready.protocolVersion == workerProtocolVersion else {
                throw ParallelError(
                    .workerStartFailed,
                    "the worker speaks protocol version \(ready.protocolVersion), this process \(workerProtocolVersion)")
            }
        case .nothingYet:
            throw ParallelError(
                .workerStartFailed,
                "the worker process \(process.pid) did not start within \(timeout): if \(executable) is linked with "
                    + "--static-swift-stdlib or loads swift-joblib as a dynamic library, call Joblib.workerMain() "
                    + "as the first statement of main")
        case .frame, .ended:
            let status = process.poll() ?? process.terminate(grace: .milliseconds(100))
            stderr.join()
            if status == .exited(WorkerEnvironment.notEnteredExitStatus) {
                throw ParallelError(
                    .workerStartFailed,
                    "the worker process ran the program instead of becoming a worker: \(executable) does not call "
                        + "Joblib.workerMain() as the first statement of main, which programs linked with "
                        + "--static-swift-stdlib (or loading swift-joblib as a dynamic library) must do")
            }
            throw ParallelError(
                .workerStartFailed,
                "the worker process ended before it was ready (\(status.explained)); its last output:\n\(stderr.tail)")
        }
    }

    /// Sends a batch; false when the worker is gone (`EPIPE`): the caller then sees it end.
    @discardableResult
    func send(_ batch: BatchMessage) -> Bool {
        (try? tasks.send(.batch, batch)) != nil
    }

    /// Tells the worker the call is over, so it drops the call's shared arrays.
    func releaseArena() {
        try? tasks.send(.releaseArena)
    }

    /// What came from the worker within `timeout`.
    enum Received {
        case results(ResultBatch)
        /// The worker ended (died, was killed, or broke the protocol).
        case ended
        case nothingYet
    }

    /// The next results, waiting up to `timeout`; `.ended` once the worker has ended and everything
    /// it sent before was read.
    func receive(timeout: Duration?) -> Received {
        do {
            switch try results.withLock({ try $0.next(timeout: timeout) }) {
            case .frame(.results, let body): return .results(try ResultBatch.parse(frameBody: body))
            case .frame(let kind, _): throw ProtocolError("unexpected frame \(kind) from a worker")
            case .ended: return .ended
            case .nothingYet: return .nothingYet
            }
        } catch {
            // A worker that breaks the protocol is treated as dead: it is killed and replaced.
            kill()
            return .ended
        }
    }

    /// The task the worker is working on now (or was when it died), the stage, and since when.
    var runningTask: (index: Int, started: UInt64, stage: RemoteTaskError.Stage?)? {
        let running = status.load(StatusWord.runningTask)
        guard running > 0 else { return nil }
        return (Int(running - 1), status.load(StatusWord.startedAt), StatusWord.stage(code: status.load(StatusWord.stage)))
    }

    /// The last lines the worker wrote to standard error.
    var stderrTail: String { stderr.tail }

    /// Kills the worker at once (a timeout, or the parent shutting down).
    func kill() { process.kill() }

    /// Asks the worker to exit, then terminates it if it does not; reaps it and closes everything.
    @discardableResult
    func shutDown(grace: Duration = .milliseconds(500)) -> ProcessExitStatus {
        if grace > .zero { try? tasks.send(.shutdown) }
        closeChannels()
        let status: ProcessExitStatus
        if grace > .zero {
            status = process.wait(timeout: grace) ?? process.terminate(grace: .milliseconds(100))
        } else {
            process.kill()
            status = process.wait()
        }
        stderr.join()
        return status
    }

    private let channelsClosed = Atomic<Bool>(false)

    /// Closes the task and result channels, once (a second close could hit a descriptor that
    /// another part of the program opened meanwhile under the same number).
    private func closeChannels() {
        guard !channelsClosed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        try? tasks.fd.close()
        try? resultDescriptor.close()
    }

    /// After the worker ended: its exit status (it is killed first if it lingers).
    func reapAfterDeath() -> ProcessExitStatus {
        let status = process.poll() ?? process.terminate(grace: .milliseconds(100))
        closeChannels()
        stderr.join()
        return status
    }

    /// The worker's resident memory in bytes.
    var residentBytes: Int? { process.residentBytes }
}

/// Forwards a worker's standard error to ours as it arrives (a chatty task must never block on
/// a full pipe) and keeps its last 64 KiB for error messages (a crash backtrace is long).
package final class StandardErrorDrain: Sendable {
    private static let tailLimit = 64 * 1024
    private let buffer = Mutex<[UInt8]>([])
    private let done = Mutex<Bool>(false)
    private let finished = ThreadCondition()

    /// Drains `fd` on a thread; `forward: false` only keeps the tail (a helper process whose
    /// chatter is worth showing only when it fails). With `process`, draining stops once that
    /// process has ended and its output is read, even if a process it started keeps the pipe open.
    package init(fd: FileDescriptor, forward: Bool = true, until process: ChildProcess? = nil) {
        if process?.exitDescriptor != nil { try? fd.setNonBlocking() }
        do {
            try startDetachedThread(name: "joblib-stderr") { [self] in
                // Our standard error may be a pipe nobody reads any more: EPIPE, never SIGPIPE.
                blockBrokenPipeSignalInThisThread()
                drain(fd, forward: forward, until: process)
            }
        } catch {
            try? fd.close()
            markDone()
        }
    }

    private func drain(_ fd: FileDescriptor, forward: Bool, until process: ChildProcess?) {
        var chunk = [UInt8](repeating: 0, count: 4096)
        let exit = process?.exitDescriptor
        var ended = false
        while true {
            let read: Int?
            do {
                if exit != nil {
                    read = try chunk.withUnsafeMutableBytes { try fd.readAvailable(into: $0) }
                } else {
                    read = try chunk.withUnsafeMutableBytes { try fd.read(into: $0, retryOnInterrupt: true) }
                }
            } catch {
                break
            }
            guard let count = read else {
                // Empty for now: stop if the process has ended, else wait for output or its end.
                if ended { break }
                guard let exit, let ready = try? waitReadable(fd, or: exit, timeout: nil) else { break }
                if ready.second { ended = true }
                continue
            }
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
