import Synchronization

/// In which order ``Parallel/stream(_:order:)`` yields results.
public enum ResultOrder: Hashable, Sendable {
    /// Input order: a result waits until those before it have been yielded.
    case input
    /// As tasks complete: a fast task never waits behind a slow one (an idle worker takes the
    /// tasks a busy worker has not started).
    case completion
}

extension Parallel {
    /// The outputs of `tasks` as they are computed, each with its index in the input.
    ///
    /// The tasks start at once and are read from `tasks` as workers ask for them; stopping the
    /// iteration early (or cancelling its task) stops the call, so an endless sequence is fine.
    /// The sequence throws the call's first error (as ``run(_:)-7o14y`` would).
    public func stream<Task: ParallelTask>(
        _ tasks: some Sequence<Task>, order: ResultOrder = .input
    ) -> AsyncThrowingStream<(index: Int, value: Task.Output), any Error> {
        makeStream(InputSource.reading(tasks), order: order) { sink in
            let remote = RemoteTasks(Task.self, sink: sink)
            let batches: BatchRunner = { batch in
                let chunk = batch.inputs(of: Task.self)
                return batch.forEachTask { index in try sink(index, Result { try chunk[index].run() }) }
            }
            return (remote, batches)
        }
    }

    /// The results of `body` applied to every input as they are computed, with their indices.
    /// Inputs are read as workers ask for them, as in ``stream(_:order:)``.
    public func stream<Input: Sendable, Output: Sendable>(
        _ inputs: some Sequence<Input>, order: ResultOrder = .input, _ body: @escaping @Sendable (Input) throws -> Output
    ) -> AsyncThrowingStream<(index: Int, value: Output), any Error> {
        makeStream(InputSource.reading(inputs), order: order) { sink in
            let batches: BatchRunner = { batch in
                let chunk = batch.inputs(of: Input.self)
                return batch.forEachTask { index in try sink(index, Result { try body(chunk[index]) }) }
            }
            return (nil, batches)
        }
    }

    /// The engine of both `stream`s: `runners` builds, around the stream's sink, the call's way
    /// to run batches here and (for tasks) elsewhere.
    private func makeStream<Output: Sendable>(
        _ source: InputSource, order: ResultOrder,
        runners: (@escaping @Sendable (Int, Result<Output, any Error>) throws -> Void) -> (RemoteTasks?, BatchRunner)
    ) -> AsyncThrowingStream<(index: Int, value: Output), any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: (index: Int, value: Output).self)
        let plan: Plan
        do { plan = try self.plan() } catch {
            reportRejectedCall()
            continuation.finish(throwing: error)
            return stream
        }
        let reorder = Mutex<(next: Int, waiting: [Int: Output])>((0, [:]))
        let sink: @Sendable (Int, Result<Output, any Error>) throws -> Void = { index, outcome in
            let value = try outcome.get()
            switch order {
            case .completion:
                continuation.yield((index, value))
            case .input:
                // Yield under the lock so that two workers cannot interleave their runs of results.
                reorder.withLock { state in
                    state.waiting[index] = value
                    while let ready = state.waiting.removeValue(forKey: state.next) {
                        continuation.yield((state.next, ready))
                        state.next += 1
                    }
                }
            }
        }
        let (remote, batches) = runners(sink)
        let job = makeJob(plan, source: source, remote: remote, batches: batches, asyncBatches: nil)
        continuation.onTermination = { _ in job.cancel() }
        let parallel = self
        // Detached: starting a backend may take a while (worker processes), and one that runs in
        // the caller (sequential) gets a thread of its own rather than one of the cooperative pool.
        Task.detached {
            parallel.startOffTheCooperativePool(job, plan)
            await job.completion.wait()
            if let error = job.error { continuation.finish(throwing: error) } else { continuation.finish() }
        }
        return stream
    }
}
