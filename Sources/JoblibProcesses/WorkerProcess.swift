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
/// end is seen when it happens. One backend thread drives a worker at a time (results arrive in
/// the order it reads them); other threads may kill it, read ``runningTask`` and ``stderrTail``,
/// or send: the task channel is behind a lock, so frames never interleave and no send reaches a
/// descriptor after it was closed (its number may belong to another file by then).
final class WorkerProcess: Sendable {
    let process: ChildProcess
    /// The task channel, nil once closed.
    private let tasks: Mutex<FrameChannel?>
    private let results: Mutex<FrameReader>
    private let resultDescriptor: FileDescriptor
    private let stderr: StandardErrorDrain
    /// Which task the worker is working on, readable after it died.
    let status: SharedWords
    /// Whether the worker said it may read this process's memory (``ParentMemoryProbe``).
    var readsParentMemory: Bool { readsParent.load(ordering: .relaxed) }
    private let readsParent = Atomic<Bool>(false)
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
        environment[ParentMemoryProbe.environmentName] = ParentMemoryProbe.variableValue
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
        self.tasks = Mutex(FrameChannel(fd: taskEnd, isSocket: true))
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
            readsParent.store(ready.readsParentMemory == true, ordering: .relaxed)
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
        send(.batch, batch)
    }

    /// Sends one frame; false when the channel is closed or the worker is gone.
    @discardableResult
    private func send(_ kind: FrameKind, body: [UInt8]) -> Bool {
        tasks.withLock { channel in (try? channel?.send(kind, body: body)) != nil }
    }

    @discardableResult
    private func send<Message: Encodable>(_ kind: FrameKind, _ message: Message) -> Bool {
        guard let body = try? BinaryEncoder().encode(message) else { return false }
        return send(kind, body: body)
    }

    /// Tells the worker the call is over, so it drops the call's shared arrays.
    func releaseArena() {
        send(.releaseArena, body: [])
    }

    /// What came from the worker within `timeout`.
    enum Received {
        /// Outcomes, and the memory files that hold their large arrays (nil: all inline).
        case results(ResultBatch, ReceivedResultSections?)
        /// The worker ended (died, was killed, or broke the protocol).
        case ended
        case nothingYet
    }

    /// The next results, waiting up to `timeout`; `.ended` once the worker has ended and everything
    /// it sent before was read.
    func receive(timeout: Duration?) -> Received {
        do {
            switch try results.withLock({ try $0.next(timeout: timeout) }) {
            case .frame(.results, let body):
                let batch = try ResultBatch.parse(frameBody: body)
                return .results(batch, try batch.files.map(receiveFiles))
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

    /// Takes the memory files a `results` frame refers to: the worker passed them over the task
    /// socket right before it wrote the frame, so they are waiting there.
    private func receiveFiles(_ files: ResultFiles) throws -> ReceivedResultSections {
        let descriptors = try tasks.withLock { channel -> [FileDescriptor]? in
            guard let channel else { return nil }
            return try channel.fd.receiveDescriptors()
        }
        guard let descriptors else { throw ProtocolError("a results frame refers to memory files that did not come") }
        return try ReceivedResultSections(descriptors: descriptors, files: files)
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
    func shutDown(grace: Duration = .milliseconds(500)) -> WaitStatus {
        if grace > .zero { send(.shutdown, body: []) }
        closeChannels()
        let status: WaitStatus
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
        tasks.withLock { channel in
            try? channel?.fd.close()
            channel = nil
        }
        try? resultDescriptor.close()
    }

    /// After the worker ended: its exit status (it is killed first if it lingers).
    func reapAfterDeath() -> ProcessExitStatus {
        let status = process.poll() ?? process.terminate(grace: .milliseconds(100))
        closeChannels()
        stderr.join()
        return ProcessExitStatus(status)
    }

    /// The worker's resident memory in bytes.
    var residentBytes: Int? { process.residentBytes }
}
