import JoblibCoding

/// What a backend that runs tasks in another process (or machine) needs from a call: the tasks
/// as bytes, and a way to hand their outcomes back. Present only on calls of ``ParallelTask``
/// values; closures cannot leave the process.
package struct RemoteTasks: Sendable {
    /// The tasks' type, which the other side resolves by name.
    package let taskType: any ParallelTask.Type
    /// The task at an index, encoded with `BinaryEncoder` (through `sections` when given).
    package let encode: @Sendable (Int, (any BulkSectionWriter)?) throws -> [UInt8]
    /// The tasks at these indices as one encoded `[Task]`: one encoder pass for a whole batch.
    /// When it throws, encode the tasks one by one to find the culprit.
    package let encodeBatch: @Sendable ([Int], (any BulkSectionWriter)?) throws -> [UInt8]
    /// Hands over the outcome of the task at an index: its encoded output, or the error it
    /// failed with. Throws when the outcome fails the call (an error in a fail-fast call).
    package let deliver: @Sendable (Int, Result<[UInt8], any Error>) throws -> Void
    /// Hands over, in order, the outcomes of the tasks at `indices`: `errors` for the positions
    /// that failed, and for all others one `[Output]` encoded together in `outputs` (an output
    /// that cannot be decoded fails its task alone). Throws like ``deliver``; `delivered` counts
    /// the outcomes handed over before that.
    package let deliverBatch: @Sendable ([Int], [Int: any Error], [UInt8], inout Int) throws -> Void

    /// Remote access to `tasks`, whose outcomes go to `sink` exactly as local runs' do.
    init<Task: ParallelTask>(
        _ tasks: [Task], sink: @escaping @Sendable (Int, Result<Task.Output, any Error>) throws -> Void
    ) {
        taskType = Task.self
        encode = { index, sections in try BinaryEncoder().encode(tasks[index], sections: sections) }
        encodeBatch = { indices, sections in
            try BinaryEncoder().encode(indices.map { tasks[$0] }, sections: sections)
        }
        deliver = { index, outcome in
            try sink(index, outcome.flatMap { bytes in
                Result { try BinaryDecoder().decode(Task.Output.self, from: bytes) }
                    .mapError { resultDecodingError($0, taskIndex: index) }
            })
        }
        deliverBatch = { indices, errors, bytes, delivered in
            let outputs = decodeEach([Task.Output].self, Task.Output.self, from: bytes, count: indices.count - errors.count)
            var next = outputs.makeIterator()
            for (position, index) in indices.enumerated() {
                let outcome = errors[position].map { .failure($0) }
                    ?? next.next()!.mapError { resultDecodingError($0, taskIndex: index) }
                try sink(index, outcome)
                delivered += 1
            }
        }
    }
}

/// A result that ran fine but cannot be decoded here: its own stage, so that it never looks as
/// if the task had thrown the decoder's error.
private func resultDecodingError(_ error: any Error, taskIndex: Int) -> any Error {
    RemoteTaskError(
        taskIndex: taskIndex, stage: .decodingResult, typeName: String(reflecting: type(of: error)),
        errorDescription: String(describing: error))
}

/// Decodes an encoded array in one pass when it can, and element by element when one element is
/// bad, so that one bad element costs one entry.
package func decodeEach<Element: Decodable>(
    _ arrayType: [Element].Type, _ elementType: Element.Type, from bytes: [UInt8], count: Int,
    sections: (any BulkSectionReader)? = nil
) -> [Result<Element, any Error>] {
    if let all = try? bytes.withUnsafeBytes({ try BinaryDecoder().decode([Element].self, from: $0, sections: sections) }),
       all.count == count
    {
        return all.map { .success($0) }
    }
    do {
        let each = try bytes.withUnsafeBytes { try BinaryDecoder().decode([Lenient<Element>].self, from: $0, sections: sections) }
        guard each.count == count else {
            let error = CodingError(.typeMismatch, "expected \(count) values, found \(each.count)")
            return Array(repeating: .failure(error), count: count)
        }
        return each.map(\.result)
    } catch {
        return Array(repeating: .failure(error), count: count)
    }
}

/// One element of an array whose decoding failure is kept instead of thrown.
package struct Lenient<Value: Decodable>: Decodable {
    package let result: Result<Value, any Error>
    package init(from decoder: any Decoder) throws {
        result = Result { try decoder.singleValueContainer().decode(Value.self) }
    }
}

extension Parallel {
    /// Runs `tasks`, handing each outcome to `sink` (in the worker that ran it, or as it arrives
    /// from another process), and blocks until the call is over.
    func execute<Task: ParallelTask>(
        tasks: [Task], _ sink: @escaping @Sendable (Int, Result<Task.Output, any Error>) throws -> Void
    ) throws {
        try execute(taskCount: tasks.count, remote: RemoteTasks(tasks, sink: sink)) { index in
            try sink(index, Result { try tasks[index].run() })
        }
    }

    /// ``execute(tasks:_:)`` without blocking a thread of the cooperative pool.
    func executeAsync<Task: ParallelTask>(
        tasks: [Task], _ sink: @escaping @Sendable (Int, Result<Task.Output, any Error>) throws -> Void
    ) async throws {
        try await executeAsync(taskCount: tasks.count, remote: RemoteTasks(tasks, sink: sink)) { index in
            try sink(index, Result { try tasks[index].run() })
        }
    }
}

extension ParallelJob {
    /// The call's tasks as bytes, when they can run elsewhere (nil for closures).
    package var remoteTasks: RemoteTasks? { remote }
}

extension ParallelBatch {
    /// For backends that run tasks elsewhere: the batch is over with `completed` tasks done.
    /// Call it once, after delivering their outcomes through ``ParallelJob/remoteTasks``.
    package func finishRemotely(completed: Int) {
        job.batchFinished(self, completed: completed)
    }

    /// Whether the call has stopped (an error, a cancellation, a timeout): remaining tasks of
    /// the batch need not run.
    package var callStopped: Bool { job.stopped.load(ordering: .relaxed) }

    /// Fails the call with `error` (a backend's own failure, such as a worker that died in a
    /// fail-fast call).
    package func failCall(_ error: any Error) { job.fail(error) }
}

extension ParallelJob {
    /// The call's per-task timeout, for backends that enforce it where the task runs.
    package var taskTimeout: Duration? { timeout }
}
