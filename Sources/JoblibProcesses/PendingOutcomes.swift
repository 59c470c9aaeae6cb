import JoblibCoding
import JoblibParallel
import JoblibSystem

/// Outcomes waiting to be sent: outputs are encoded together when sent.
struct PendingOutcomes<Output: Encodable> {
    /// Outputs are sent as one fixed-layout block, not `Codable` (``FixedLayoutTask``).
    private let fixedLayout: Bool
    private var indices: [Int] = []
    private var failed: [UInt8] = []
    private var failures: [ErrorMessage] = []
    private var outputs = OutputBuffer<Output>()
    private(set) var errorBytes = 0
    /// The worker's time on these outcomes (the encoding is added when they are taken).
    var timing = RemoteTiming(decoding: 0, running: 0, encoding: 0)

    init(fixedLayout: Bool = false) { self.fixedLayout = fixedLayout }

    var isEmpty: Bool { indices.isEmpty }

    /// Inlined: a call would look up the metadata of `PendingOutcomes<Output>` per task.
    @inline(__always) mutating func succeed(_ index: Int, _ output: Output) {
        indices.append(index)
        failed.append(0)
        outputs.append(output)
    }

    /// Successes of consecutive positions at once (fixed-layout batches).
    mutating func succeed(_ indices: ArraySlice<Int>, _ outputs: UnsafeBufferPointer<Output>) {
        self.indices.append(contentsOf: indices)
        failed.append(contentsOf: repeatElement(0, count: indices.count))
        self.outputs.append(contentsOf: outputs)
    }

    mutating func fail(_ index: Int, _ message: ErrorMessage) {
        indices.append(index)
        failed.append(1)
        failures.append(message)
        errorBytes += message.description.utf8.count + message.typeName.utf8.count + 64
    }

    /// The outcomes as a ``ResultBatch``; an output that cannot be encoded fails its task alone.
    /// While an output is encoded, `status` names its task (its `encode(to:)` may crash). Large
    /// arrays go to `files` when given (the batch says where).
    mutating func take(_ status: WorkerStatus? = nil, files: ResultSectionWriter? = nil) -> ResultBatch {
        let start = monotonicNanoseconds()
        var timing = self.timing
        defer { self = PendingOutcomes(fixedLayout: fixedLayout) }
        let outputs = self.outputs.elements
        var batch = ResultBatch()
        var encoded: [UInt8]
        do {
            // Fixed-layout outputs are copied as one block: no user code runs, nothing can fail.
            if fixedLayout {
                encoded = FixedLayoutBlock.make(outputs)
            } else {
                let succeeded = zip(indices, failed).filter { $0.1 == 0 }.map(\.0)
                encoded = try TrackedOutputs(outputs: outputs, indices: succeeded, status: status).encoded(files)
            }
        } catch {
            // Find the culprits one by one, then encode the others together.
            var kept: [Output] = []
            var outputIterator = outputs.makeIterator()
            var failureIterator = failures.makeIterator()
            var rebuilt = PendingOutcomes(fixedLayout: fixedLayout)
            for (index, wasFailed) in zip(indices, failed) {
                if wasFailed != 0 {
                    rebuilt.fail(index, failureIterator.next()!)
                    continue
                }
                let output = outputIterator.next()!
                do {
                    status?.begin(index, .encodingResult)
                    _ = try BinaryEncoder().encode(output)
                    rebuilt.succeed(index, output)
                    kept.append(output)
                } catch {
                    rebuilt.fail(index, WorkerRuntime.errorMessage(error, stage: .encodingResult))
                }
            }
            self = rebuilt
            let keptIndices = zip(indices, failed).filter { $0.1 == 0 }.map(\.0)
            files?.reset()
            let tracked = TrackedOutputs(outputs: kept, indices: keptIndices, status: status)
            if let withFiles = try? tracked.encoded(files) {
                encoded = withFiles
            } else {
                // No memory file could be made (out of memory, out of descriptors): all inline.
                files?.reset()
                encoded = (try? tracked.encoded()) ?? []
            }
        }
        batch.indices = indices
        batch.failed = failed
        for message in failures {
            batch.errors += (try? BinaryEncoder().encode(message)) ?? []
            batch.errorOffsets.append(batch.errors.count)
        }
        batch.outputs = encoded
        batch.files = files?.files()?.files
        timing.encoding += monotonicNanoseconds() - start
        batch.timing = timing
        return batch
    }
}

/// A batch's outputs encoded exactly as `[Output]` is, with the status words naming each output's
/// task while its `encode(to:)` runs. Arrays of plain numbers (bulk-coded, no user code runs)
/// are encoded in one pass.
struct TrackedOutputs<Output: Encodable>: Encodable {
    let outputs: [Output]
    let indices: [Int]
    let status: WorkerStatus?

    func encoded(_ files: ResultSectionWriter? = nil) throws -> [UInt8] {
        if status == nil || (outputs as Any) is any BulkArrayCodable { return try BinaryEncoder().encode(outputs, sections: files) }
        return try BinaryEncoder().encode(self, sections: files)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        for (output, index) in zip(outputs, indices) {
            status?.begin(index, .encodingResult)
            try container.encode(output)
        }
    }
}

extension ResultBatch {
    /// A batch where every task failed with `message` (the batch could not run at all).
    mutating func fail(_ index: Int, _ message: ErrorMessage) {
        indices.append(index)
        failed.append(1)
        errors += (try? BinaryEncoder().encode(message)) ?? []
        errorOffsets.append(errors.count)
        if outputs.isEmpty { outputs = (try? BinaryEncoder().encode([Int]())) ?? [] }
    }
}
