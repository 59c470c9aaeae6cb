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
    /// `sinkOutputs`, when given, takes the outputs of a `results` frame in which every task
    /// succeeded (`indices[k]` has `outputs[k]`), counting in `delivered` those handed over
    /// before it throws; it must do what `sink` does with each `.success`. One call per frame
    /// instead of a closure call, a dictionary lookup and a `Result` per task: with those, tiny
    /// tasks on `.processes` spent 36–45 % of the calling process's time here (BENCHMARKS.md,
    /// "Tiny tasks").
    init<Task: ParallelTask>(
        _ type: Task.Type, sink: @escaping @Sendable (Int, Result<Task.Output, any Error>) throws -> Void,
        sinkOutputs: (@Sendable ([Int], [Task.Output], inout Int) throws -> Void)? = nil
    ) {
        let link = self.link
        taskType = Task.self
        // Fixed-layout tasks and outputs travel as one block of bytes (FixedLayoutTask.swift).
        let fixedLayout = Task.travelsAsFixedLayout
        encode = { index, sections in
            let chunk = try link.chunk(holding: index, of: Task.self)
            let start = monotonicNanoseconds()
            defer { link.coded(since: start) }
            if fixedLayout { return FixedLayoutBlock.make(CollectionOfOne(chunk[index])) }
            return try BinaryEncoder().encode(chunk[index], sections: sections)
        }
        encodeBatch = { indices, sections in
            guard let first = indices.first else {
                return fixedLayout ? FixedLayoutBlock.make([Task]()) : try BinaryEncoder().encode([Task](), sections: sections)
            }
            let chunk = try link.chunk(holding: first, of: Task.self)
            let start = monotonicNanoseconds()
            defer { link.coded(since: start) }
            if fixedLayout {
                // Consecutive tasks (a slice as claimed) are copied straight from the inputs.
                if indices.indices.allSatisfy({ indices[$0] == first + $0 }) {
                    return FixedLayoutBlock.make(chunk.elements[(first - chunk.start)..<(first - chunk.start + indices.count)])
                }
                return FixedLayoutBlock.make(indices.map { chunk[$0] })
            }
            return try BinaryEncoder().encode(indices.map { chunk[$0] }, sections: sections)
        }
        deliver = { index, outcome in
            let start = monotonicNanoseconds()
            let decoded = outcome.flatMap { bytes in
                Result {
                    if fixedLayout { return try decodeBlock(Task.Output.self, from: bytes, count: 1)[0].get() }
                    return try BinaryDecoder().decode(Task.Output.self, from: bytes)
                }
                .mapError { resultDecodingError($0, taskIndex: index) }
            }
            link.coded(since: start)
            try sink(index, decoded)
        }
        let sinkOutputs = sinkOutputs ?? { indices, outputs, delivered in
            for position in indices.indices {
                try sink(indices[position], .success(outputs[position]))
                delivered += 1
            }
        }
        deliverBatch = { indices, errors, bytes, sections, delivered in
            let start = monotonicNanoseconds()
            let count = indices.count - errors.count
            // Every task succeeded and every output decodes: all of them at once.
            if errors.isEmpty, let outputs = decodeAll(Task.Output.self, from: bytes, count: count, fixedLayout: fixedLayout, sections: sections) {
                link.coded(since: start)
                return try sinkOutputs(indices, outputs, &delivered)
            }
            let outputs = fixedLayout
                ? decodeBlock(Task.Output.self, from: bytes, count: count)
                : decodeEach([Task.Output].self, Task.Output.self, from: bytes, count: count, sections: sections)
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

/// The `count` outputs in `bytes` (a fixed-layout block, or one encoded `[Output]`), or nil
/// when they cannot all be decoded (then each is decoded on its own to find the bad ones).
private func decodeAll<Output: Decodable>(
    _ type: Output.Type, from bytes: [UInt8], count: Int, fixedLayout: Bool, sections: (any BulkSectionReader)?
) -> [Output]? {
    let all = try? bytes.withUnsafeBytes { buffer in
        fixedLayout
            ? try FixedLayoutBlock.elements(of: Output.self, in: buffer)
            : try BinaryDecoder().decode([Output].self, from: buffer, sections: sections)
    }
    return all?.count == count ? all : nil
}

/// The `count` outputs of a fixed-layout block (``FixedLayoutTask``); a block that does not hold
/// them fails them all. With no outputs the bytes are not read (a batch that failed whole carries
/// an empty `Codable` array there).
private func decodeBlock<Element>(_ type: Element.Type, from bytes: [UInt8], count: Int) -> [Result<Element, any Error>] {
    guard count > 0 else { return [] }
    do {
        let all = try bytes.withUnsafeBytes { try FixedLayoutBlock.elements(of: Element.self, in: $0) }
        guard all.count == count else { throw CodingError(.typeMismatch, "expected \(count) values, found \(all.count)") }
        return all.map { .success($0) }
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
    /// `outputIsEntry`: `Entry` is `Task.Output` and `entry(.success(output))` is `output` (as in
    /// `run`), so that a frame's outputs go into `store` as they are.
    func execute<Task: ParallelTask, Entry: Sendable>(
        _ source: InputSource, of type: Task.Type, store: ResultStore<Entry>, outputIsEntry: Bool = false,
        entry: @escaping @Sendable (Result<Task.Output, any Error>) throws -> Entry
    ) -> (count: Int, error: (any Error)?) {
        let (remote, batches) = Self.taskRunners(Task.self, store: store, outputIsEntry: outputIsEntry, entry: entry)
        return executeCall(source, remote: remote, batches: batches)
    }

    /// ``execute(_:of:store:entry:)`` without blocking a thread of the cooperative pool.
    func executeAsync<Task: ParallelTask, Entry: Sendable>(
        _ source: InputSource, of type: Task.Type, store: ResultStore<Entry>, outputIsEntry: Bool = false,
        entry: @escaping @Sendable (Result<Task.Output, any Error>) throws -> Entry
    ) async -> (count: Int, error: (any Error)?) {
        let (remote, batches) = Self.taskRunners(Task.self, store: store, outputIsEntry: outputIsEntry, entry: entry)
        return await executeCallAsync(source, remote: remote, batches: batches)
    }

    /// A call's ways of running tasks: elsewhere (`remote`, one outcome at a time into `store`)
    /// or here (`batches`).
    private static func taskRunners<Task: ParallelTask, Entry: Sendable>(
        _ type: Task.Type, store: ResultStore<Entry>, outputIsEntry: Bool,
        entry: @escaping @Sendable (Result<Task.Output, any Error>) throws -> Entry
    ) -> (RemoteTasks, BatchRunner) {
        let outputIsEntry = outputIsEntry && Entry.self == Task.Output.self
        let remote = RemoteTasks(Task.self) { index, outcome in
            store.store(index, try entry(outcome))
        } sinkOutputs: { indices, outputs, delivered in
            if outputIsEntry {
                // The same type (checked above): the array is the entries.
                store.store(at: indices, unsafeBitCast(outputs, to: [Entry].self))
                delivered += outputs.count
                return
            }
            for position in indices.indices {
                store.store(indices[position], try entry(.success(outputs[position])))
                delivered += 1
            }
        }
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
