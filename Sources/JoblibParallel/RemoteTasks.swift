import JoblibCoding
import JoblibSystem

/// What a backend that runs tasks in another process (or machine) needs from a call: the tasks
/// as bytes, and a way to hand their outcomes back. Present only on calls of ``ParallelTask``
/// values; closures cannot leave the process.
package struct RemoteTasks: Sendable {
    /// The tasks' type, which the other side resolves by name.
    package let taskType: any ParallelTask.Type
    /// The task at an index, encoded with `BinaryEncoder` (through `sections` when given).
    /// The index must belong to a batch in flight (its task is read from the input by then).
    package let encode: @Sendable (Int, (any BulkSectionWriter)?) throws -> [UInt8]
    /// The tasks at these indices as one encoded `[Task]`: one encoder pass for a whole batch.
    /// When it throws, encode the tasks one by one to find the culprit.
    package let encodeBatch: @Sendable ([Int], (any BulkSectionWriter)?) throws -> [UInt8]
    /// Hands over the outcome of the task at an index: its encoded output, or the error it
    /// failed with. Throws when the outcome fails the call (an error in a fail-fast call).
    package let deliver: @Sendable (Int, Result<[UInt8], any Error>) throws -> Void
    /// Hands over, in order, the outcomes of the tasks at `indices`: `errors` for the positions
    /// that failed, and for all others one `[Output]` encoded together in `outputs` (an output
    /// that cannot be decoded fails its task alone; `sections` serves the large arrays stored out
    /// of line). Throws like ``deliver``; `delivered` counts the outcomes handed over before that.
    package let deliverBatch: @Sendable ([Int], [Int: any Error], [UInt8], (any BulkSectionReader)?, inout Int) throws -> Void
    /// The job whose inputs the tasks are (set when the job is made).
    let link = JobLink()

    /// Remote access to a call's tasks of type `Task`, whose outcomes go to `sink` exactly as
    /// local runs' do. The time spent encoding and decoding counts as the worker's coding time.
    init<Task: ParallelTask>(
        _ type: Task.Type, sink: @escaping @Sendable (Int, Result<Task.Output, any Error>) throws -> Void
    ) {
        let link = self.link
        taskType = Task.self
        encode = { index, sections in
            let chunk = try link.chunk(holding: index, of: Task.self)
            let start = monotonicNanoseconds()
            defer { link.coded(since: start) }
            return try BinaryEncoder().encode(chunk[index], sections: sections)
        }
        encodeBatch = { indices, sections in
            guard let first = indices.first else { return try BinaryEncoder().encode([Task](), sections: sections) }
            let chunk = try link.chunk(holding: first, of: Task.self)
            let start = monotonicNanoseconds()
            defer { link.coded(since: start) }
            return try BinaryEncoder().encode(indices.map { chunk[$0] }, sections: sections)
        }
        deliver = { index, outcome in
            let start = monotonicNanoseconds()
            let decoded = outcome.flatMap { bytes in
                Result { try BinaryDecoder().decode(Task.Output.self, from: bytes) }
                    .mapError { resultDecodingError($0, taskIndex: index) }
            }
            link.coded(since: start)
            try sink(index, decoded)
        }
        deliverBatch = { indices, errors, bytes, sections, delivered in
            let start = monotonicNanoseconds()
            let outputs = decodeEach(
                [Task.Output].self, Task.Output.self, from: bytes, count: indices.count - errors.count, sections: sections)
            link.coded(since: start)
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

/// A remote backend's way from a task index to the task, through the job's batches in flight.
// @unchecked Sendable: `job` is set once, before the job is shared with any backend.
final class JobLink: @unchecked Sendable {
    private weak var job: ParallelJob?

    func attach(_ job: ParallelJob) { self.job = job }

    /// The inputs of the batch in flight that holds task `index`.
    ///
    /// - Throws: `CancellationError` when no batch holds it: the call is over.
    func chunk<Task: ParallelTask>(holding index: Int, of type: Task.Type) throws -> InputChunk<Task> {
        guard let batch = job?.batchHolding(index) else { throw CancellationError() }
        return batch.inputs(of: Task.self)
    }

    func coded(since start: UInt64) {
        guard let recorder = job?.recorder, recorder.isActive else { return }
        recorder.coded(nanoseconds: monotonicNanoseconds() - start)
    }
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
    /// Runs the tasks of `source` (of type `Task`), storing `entry(outcome)` of each (in the
    /// worker that ran it, or as it arrives from another process), and blocks until the call is over.
    func execute<Task: ParallelTask, Entry: Sendable>(
        _ source: InputSource, of type: Task.Type, store: ResultStore<Entry>,
        entry: @escaping @Sendable (Result<Task.Output, any Error>) throws -> Entry
    ) -> (count: Int, error: (any Error)?) {
        let (remote, batches) = Self.taskRunners(Task.self, store: store, entry: entry)
        return executeCall(source, remote: remote, batches: batches)
    }

    /// ``execute(_:of:store:entry:)`` without blocking a thread of the cooperative pool.
    func executeAsync<Task: ParallelTask, Entry: Sendable>(
        _ source: InputSource, of type: Task.Type, store: ResultStore<Entry>,
        entry: @escaping @Sendable (Result<Task.Output, any Error>) throws -> Entry
    ) async -> (count: Int, error: (any Error)?) {
        let (remote, batches) = Self.taskRunners(Task.self, store: store, entry: entry)
        return await executeCallAsync(source, remote: remote, batches: batches)
    }

    /// A call's ways of running tasks: elsewhere (`remote`, one outcome at a time into `store`)
    /// or here (`batches`).
    private static func taskRunners<Task: ParallelTask, Entry: Sendable>(
        _ type: Task.Type, store: ResultStore<Entry>,
        entry: @escaping @Sendable (Result<Task.Output, any Error>) throws -> Entry
    ) -> (RemoteTasks, BatchRunner) {
        let remote = RemoteTasks(Task.self) { index, outcome in store.store(index, try entry(outcome)) }
        let batches: BatchRunner = { batch in
            let chunk = batch.inputs(of: Task.self)
            return store.run(batch) { index in try entry(Result { try chunk[index].run() }) }
        }
        return (remote, batches)
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
