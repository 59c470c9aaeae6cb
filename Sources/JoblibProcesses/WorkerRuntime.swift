import JoblibCoding
import JoblibParallel
import JoblibSystem
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

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
}

/// Enters worker mode if this process was started as a worker, and never returns then.
///
/// Call it as the first statement of `main` in programs linked with `--static-swift-stdlib`, or
/// that ship the library as a dynamic library product: there the automatic entry before `main`
/// cannot run. Elsewhere it is harmless and returns at once.
public func workerMain() {
    guard let mode = getenv(WorkerEnvironment.mode).map({ String(cString: $0) }), !mode.isEmpty else { return }
    unsetenv(WorkerEnvironment.mode)
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
    static func run() -> Never {
        let tasks = FrameChannel(fd: FileDescriptor(rawValue: WorkerEnvironment.taskDescriptor))
        let results = FrameChannel(fd: FileDescriptor(rawValue: WorkerEnvironment.resultDescriptor))
        watchParent()
        // Nested Parallel calls inside tasks run sequentially unless the task configures them.
        do {
            try results.send(.ready, ReadyMessage(protocolVersion: workerProtocolVersion, pid: currentProcessID))
            while let (kind, body) = try tasks.receive() {
                switch kind {
                case .batch:
                    let batch = try BinaryDecoder().decode(BatchMessage.self, from: body)
                    try runBatch(batch, results: results)
                case .shutdown:
                    exit(0)
                case .ready, .result:
                    throw ProtocolError("unexpected frame \(kind) from the parent")
                }
            }
            exit(0)
        } catch {
            writeToStandardError("joblib worker \(currentProcessID): \(error)\n")
            exit(70)
        }
    }

    private static func runBatch(_ batch: BatchMessage, results: FrameChannel) throws {
        guard let type = TaskTypeName.resolve(batch.typeName) else {
            for task in batch.tasks {
                let message = ErrorMessage(
                    stage: .decodingTask, typeName: "JoblibProcesses.UnknownTaskType",
                    description: "the worker cannot find the task type \(batch.typeName)")
                try results.send(.result, ResultMessage(index: task.index, outcome: .error(message)))
            }
            return
        }
        for task in batch.tasks {
            let outcome = runTask(type, task.payload)
            try results.send(.result, ResultMessage(index: task.index, outcome: outcome))
        }
    }

    private static func runTask<Task: ParallelTask>(_ type: Task.Type, _ payload: [UInt8]) -> ResultMessage.Outcome {
        let task: Task
        do {
            task = try BinaryDecoder().decode(Task.self, from: payload)
        } catch {
            return .error(errorMessage(error, stage: .decodingTask))
        }
        let output: Task.Output
        do {
            output = try ParallelConfiguration.withinTask { try task.run() }
        } catch {
            return .error(errorMessage(error, stage: .running))
        }
        do {
            return .value(try BinaryEncoder().encode(output))
        } catch {
            return .error(errorMessage(error, stage: .encodingResult))
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
        let expected = getenv(WorkerEnvironment.parentPID).flatMap { Int32(String(cString: $0)) } ?? parentProcessID
        unsetenv(WorkerEnvironment.parentPID)
        if parentProcessID != expected { exit(0) }
        // Without the watcher the worker still exits at end of file on its task channel.
        try? startDetachedThread(name: "joblib-parent-watch") {
            while true {
                usleep(100_000)
                if parentProcessID != expected { _exit(0) }
            }
        }
    }
}

/// Decodes an error sent by a worker back into the error to throw in the parent.
package func decodeRemoteError(_ message: ErrorMessage, taskIndex: Int) -> any Error {
    if let name = message.codableTypeName, let payload = message.codablePayload,
       let type = _typeByName(name) as? any (Error & Decodable).Type,
       let error = try? decodeOpened(type, payload)
    {
        return error
    }
    return RemoteTaskError(
        taskIndex: taskIndex, stage: message.stage, typeName: message.typeName, errorDescription: message.description)
}

private func decodeOpened<E: Error & Decodable>(_ type: E.Type, _ payload: [UInt8]) throws -> any Error {
    try BinaryDecoder().decode(E.self, from: payload)
}
