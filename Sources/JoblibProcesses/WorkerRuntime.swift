import CJoblibWorkerHook
import JoblibCoding
import JoblibParallel
import JoblibSystem
import SystemPackage

/// The environment variables between a parent and the workers it starts.
package enum WorkerEnvironment {
    /// Set in a worker's environment: `ctor` lets the constructor hook enter worker mode before
    /// `main`; the hook leaves it set when it cannot run (static stdlib), for `workerMain()`.
    package static let mode = "JOBLIB_WORKER"
    /// The parent's pid: a worker whose parent changes (the parent died) exits.
    package static let parentPID = "JOBLIB_WORKER_PARENT"
    /// Descriptors in the worker: tasks arrive on 3, results leave on 4.
    package static let taskDescriptor: Int32 = 3
    package static let resultDescriptor: Int32 = 4
    /// The worker's status words (``SharedWords``): which task runs now.
    package static let statusDescriptor: Int32 = 5
    /// The exit status of a process started as a worker that ran the program instead (a static
    /// build whose main does not call ``workerMain()``): it must never start workers itself.
    package static let notEnteredExitStatus = JOBLIB_WORKER_NOT_ENTERED_STATUS

    /// Stops this process at once if it was started as a worker but did not enter worker mode:
    /// starting workers from here would start a fork bomb.
    static func refuseToStartWorkersFromAWorker() {
        guard environmentValue(mode) != nil else { return }
        writeToStandardError(
            "joblib: this process was started as a worker process but runs the program (its main does not call "
                + "Joblib.workerMain() first); it stops instead of starting worker processes of its own\n")
        exitImmediately(notEnteredExitStatus)
    }
}

/// Enters worker mode if this process was started as a worker, and never returns then.
///
/// Call it as the first statement of `main` in programs linked with `--static-swift-stdlib`, or
/// that ship the library as a dynamic library product: there the automatic entry before `main`
/// cannot run. Elsewhere it is harmless and returns at once.
public func workerMain() {
    guard let mode = environmentValue(WorkerEnvironment.mode), !mode.isEmpty else { return }
    joblib_worker_mode_did_enter()
    removeEnvironmentValue(WorkerEnvironment.mode)
    WorkerRuntime.run()
}

/// Called by the C constructor hook (CJoblibWorkerHook) before `main` when `JOBLIB_WORKER=ctor`.
@_cdecl("joblib_worker_entry")
public func _joblibWorkerEntry() {
    WorkerRuntime.run()
}

/// The worker's side of the protocol: answer the handshake, then run batches until the parent
/// closes the task channel, says shut down, or dies.
enum WorkerRuntime {
    /// How long finished results may wait before they are sent (a long batch reports as it goes).
    /// 20 ms: a batch of microsecond tasks sends one frame per 20 ms instead of one per task, and
    /// a finished task is known to the parent (progress, the crash culprit) within one interval.
    /// The figures in BENCHMARKS.md "Processes (issue 8)" and "The engine (issue 16, part A)"
    /// were measured with it; other values were not compared.
    static let flushInterval: UInt64 = 20_000_000
    /// Results are sent early once they take this many bytes: a bound on what a worker holds
    /// back, chosen rather than measured.
    static let flushBytes = 4 << 20

    static func run() -> Never {
        let tasks = FrameChannel(fd: FileDescriptor(rawValue: WorkerEnvironment.taskDescriptor))
        let results = FrameChannel(fd: FileDescriptor(rawValue: WorkerEnvironment.resultDescriptor))
        let statusDescriptor = FileDescriptor(rawValue: WorkerEnvironment.statusDescriptor)
        watchParent()
        // dup2 cleared close-on-exec on the protocol descriptors: set it again, so that a process
        // a task starts (a helper, a daemon) does not hold the worker's channels open.
        try? tasks.fd.setCloseOnExec()
        try? results.fd.setCloseOnExec()
        do {
            let status = WorkerStatus(words: try SharedWords(attachingTo: statusDescriptor))
            try? statusDescriptor.close()
            try results.send(.ready, ReadyMessage(
                protocolVersion: workerProtocolVersion, pid: currentProcessID, readsParentMemory: ParentMemoryProbe.parentIsReadable()))
            // The current call's shared arrays, kept from batch to batch until the parent says
            // the call is over.
            var arena: MappedArena?
            // Where a cluster's host placed the objects the next batch refers to.
            var placements: HostPlacements?
            while let (kind, body) = try receiveDroppingIdleSpare(tasks) {
                switch kind {
                case .batch:
                    let batch = try BatchMessage.decode(frameBody: body)
                    arena = try runBatch(batch, arena: arena, placements: placements, results: results, status: status)
                case .placements:
                    placements = try HostPlacements(frameBody: body)
                case .releaseArena:
                    arena?.endCall()
                    arena = nil
                    placements = nil
                case .shutdown:
                    flushStandardOutput()
                    exitProcess(0)
                case .ready, .results:
                    throw ProtocolError("unexpected frame \(kind) from the parent")
                }
            }
            exitProcess(0)
        } catch {
            writeToStandardError("joblib worker \(currentProcessID): \(error)\n")
            exitProcess(70)
        }
    }

    /// The next frame; while waiting, a spare array kept from the last call is dropped once the
    /// worker has been idle for ``MappedArena/spareIdleLimit``.
    private static func receiveDroppingIdleSpare(_ tasks: FrameChannel) throws -> (kind: FrameKind, body: [UInt8])? {
        if MappedArena.holdsSpare, !(try waitReadable(tasks.fd, timeout: MappedArena.spareIdleLimit)) {
            MappedArena.dropSpare()
        }
        return try tasks.receive()
    }

    /// Runs a batch; returns the arena to keep for the call's next batches.
    private static func runBatch(
        _ batch: BatchMessage, arena kept: MappedArena?, placements: HostPlacements?, results: FrameChannel,
        status: WorkerStatus
    ) throws -> MappedArena? {
        func failAll(_ message: ErrorMessage) throws {
            var pending = ResultBatch()
            for index in batch.indices { pending.fail(index, message) }
            try results.send(.results, body: pending.frameBody())
        }
        guard let type = TaskTypeName.resolve(batch.typeName) else {
            try failAll(ErrorMessage(
                stage: .decodingTask, typeName: "JoblibProcesses.UnknownTaskType",
                description: "the worker cannot find the task type \(batch.typeName)"))
            return kept
        }
        var arena = kept
        if let placed = batch.arena {
            do {
                let reference = try placed.resolved(with: placements)
                arena = try kept?.adopting(reference) ?? MappedArena(reference)
            } catch {
                try failAll(errorMessage(error, stage: .decodingTask))
                return nil
            }
        }
        try runTasks(type, batch, arena, results: results, status: status)
        return arena
    }

    /// Decodes the batch's tasks in one pass (a task that cannot be decoded fails alone), runs
    /// them in order, and sends their outcomes every 20 ms, after a failure and at the end.
    private static func runTasks<Task: ParallelTask>(
        _ type: Task.Type, _ batch: BatchMessage, _ arena: MappedArena?, results: FrameChannel, status: WorkerStatus
    ) throws {
        if Task.travelsAsFixedLayout { return try runFixedLayoutTasks(Task.self, batch, results: results, status: status) }
        var pending = PendingOutcomes<Task.Output>()
        // From here to the last send, the status words always name the task being worked on and
        // the stage (decoding, running, encoding its result): a death at any point blames it alone.
        if let first = batch.indices.first { status.begin(first, .decodingTask) }
        var position = 0
        // Tasks are decoded one at a time, right before they run: a batch of tasks that each
        // carry a large array never has them all in memory at once. The whole batch runs inside
        // the tasks' configuration (set once, not per task: it cost tiny tasks 7 % of the worker).
        let decoding: Result<Void, any Error> = Result { try ParallelConfiguration.withinTask {
            try batch.tasks.withUnsafeBytes { buffer in
                try BinaryDecoder().withElements(in: buffer, sections: arena) { elements in
                    try runDecoded(Task.self, &elements, batch, &pending, &position, results: results, status: status)
                }
            }
        } }
        // Tasks the batch's bytes did not yield fail with the reason.
        let reason = decoding.failure ?? CodingError(.typeMismatch, "the batch holds fewer tasks than it lists")
        while position < batch.indices.count {
            pending.fail(batch.indices[position], errorMessage(reason, stage: .decodingTask))
            position += 1
        }
        if !pending.isEmpty {
            flushStandardOutput()
            try sendPending(&pending, batch, results: results, status: status)
        }
        status.idle()
    }

    /// Large arrays in outputs go back in memory files when the parent asked for it.
    private static func sendPending<Output>(
        _ pending: inout PendingOutcomes<Output>, _ batch: BatchMessage, results: FrameChannel, status: WorkerStatus
    ) throws {
        let files = batch.resultThreshold.map(ResultSectionWriter.init)
        try send(pending.take(status, files: files), files: files, on: results)
    }

    /// The loop of ``runTasks``: decode a task, run it, keep its outcome. A plain loop over
    /// `inout` state, not a closure per task that captures it: in this code, which knows the task
    /// type only generically, a `Result<Task, …>` per task and the dynamic exclusivity checks of
    /// captured variables were 15 % of a tiny task's time in the worker (BENCHMARKS.md,
    /// "`Codable` tiny tasks"). Two clock reads per task (when it starts running, when it ends;
    /// the end is the next task's start): they were 11 % of a tiny task's time with five.
    private static func runDecoded<Task: ParallelTask>(
        _: Task.Type, _ elements: inout ElementCursor, _ batch: BatchMessage, _ pending: inout PendingOutcomes<Task.Output>,
        _ position: inout Int, results: FrameChannel, status: WorkerStatus
    ) throws {
        var lastFlush = monotonicNanoseconds()
        // Where the current task's decoding began: the time until it runs is decoding time.
        var decodingSince = lastFlush
        while position < batch.indices.count, try elements.next() {
            let index = batch.indices[position]
            position += 1
            var failed = true
            var now: UInt64
            do {
                let task = try elements.decode(Task.self)
                status.advance(to: .running)
                let runningSince = monotonicNanoseconds()
                pending.timing.decoding += runningSince - decodingSince
                do {
                    pending.succeed(index, try task.run())
                    failed = false
                } catch {
                    pending.fail(index, errorMessage(error, stage: .running))
                }
                now = monotonicNanoseconds()
                pending.timing.running += now - runningSince
            } catch {
                // Only decoding throws to here: running's errors are caught above.
                now = monotonicNanoseconds()
                pending.timing.decoding += now - decodingSince
                pending.fail(index, errorMessage(error, stage: .decodingTask))
            }
            // What the task printed is out before its outcome (and survives a later crash).
            flushStandardOutput()
            // A failure goes out at once: in a fail-fast call the parent stops the other workers
            // as soon as it sees it, instead of up to 20 ms (thousands of tiny tasks) later.
            if failed || now - lastFlush >= flushInterval || pending.errorBytes >= flushBytes {
                try sendPending(&pending, batch, results: results, status: status)
                lastFlush = now
                now = monotonicNanoseconds()
            }
            // The next task's decoding starts now.
            if position < batch.indices.count { status.begin(batch.indices[position], .decodingTask, at: now) } else { status.idle() }
            decodingSince = now
        }
    }

    static func errorMessage(_ error: any Error, stage: RemoteTaskError.Stage) -> ErrorMessage {
        var message = ErrorMessage(
            stage: stage, typeName: String(reflecting: type(of: error)), description: String(describing: error))
        if stage == .running, let encodable = error as? any Encodable,
           let name = _mangledTypeName(type(of: error)), _typeByName(name) != nil,
           let payload = try? encodeOpened(encodable)
        {
            message.codableTypeName = name
            message.codablePayload = payload
        }
        return message
    }

    private static func encodeOpened<E: Encodable>(_ value: E) throws -> [UInt8] { try BinaryEncoder().encode(value) }

    /// Exits when the parent goes away, even while a task runs: a watcher thread compares the
    /// parent pid every 100 ms (a SIGKILLed parent cannot close anything on its way out).
    private static func watchParent() {
        let expected = environmentValue(WorkerEnvironment.parentPID).flatMap { Int32($0) } ?? parentProcessID
        removeEnvironmentValue(WorkerEnvironment.parentPID)
        if parentProcessID != expected { exitProcess(0) }
        // Without the watcher the worker still exits at end of file on its task channel.
        try? startDetachedThread(name: "joblib-parent-watch") {
            while true {
                sleepThread(milliseconds: 100)
                if parentProcessID != expected { exitImmediately(0) }
            }
        }
    }
}

extension Result {
    fileprivate var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
