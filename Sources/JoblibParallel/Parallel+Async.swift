import Synchronization

extension Parallel {
    /// ``map(_:_:)-57qad`` for `async` callers: the tasks run on the backend's
    /// workers while the caller is suspended, so no thread of the cooperative pool blocks.
    ///
    /// - Throws: as the blocking `map`.
    @inlinable
    public func map<Input: Sendable, Output: Sendable>(
        _ inputs: some Sequence<Input>, _ body: @escaping @Sendable (Input) throws -> Output
    ) async throws -> [Output] {
        let inputs = Array(inputs)
        let slots = ResultSlots<Output>(count: inputs.count)
        try await executeAsync(taskCount: inputs.count, batches: { batch in
            batch.forEachTask { index in slots[index] = try body(inputs[index]) }
        })
        return slots.values()
    }

    /// `async` `body` applied to every input, at most `jobs` at a time; results in input order.
    ///
    /// The calls are child tasks on Swift's cooperative pool: `body` should suspend rather than
    /// block (use the synchronous-`body` overload for blocking work). On a timeout the task is
    /// cancelled and the call fails once it returns. Batching does not apply.
    ///
    /// - Throws: as the blocking `map`.
    public func map<Input: Sendable, Output: Sendable>(
        _ inputs: some Sequence<Input>, _ body: @escaping @Sendable (Input) async throws -> Output
    ) async throws -> [Output] {
        let inputs = Array(inputs)
        let slots = ResultSlots<Output>(count: inputs.count)
        try await executeAsyncBodies(taskCount: inputs.count) { index in slots[index] = try await body(inputs[index]) }
        return slots.values()
    }

    /// ``run(_:)-7o14y`` for `async` callers, without blocking the cooperative pool.
    public func run<Task: ParallelTask>(_ tasks: some Sequence<Task>) async throws -> [Task.Output] {
        let tasks = Array(tasks)
        let slots = ResultSlots<Task.Output>(count: tasks.count)
        try await executeAsync(tasks: tasks) { index, outcome in slots[index] = try outcome.get() }
        return slots.values()
    }

    /// ``mapResults(_:_:)-8ymsr`` for `async` callers.
    @inlinable
    public func mapResults<Input: Sendable, Output: Sendable>(
        _ inputs: some Sequence<Input>, _ body: @escaping @Sendable (Input) throws -> Output
    ) async -> [Result<Output, any Error>] {
        let inputs = Array(inputs)
        let slots = ResultSlots<Result<Output, any Error>>(count: inputs.count)
        do {
            try await executeAsync(taskCount: inputs.count, batches: { batch in
                batch.forEachTask { index in slots[index] = Result { try body(inputs[index]) } }
            })
            return slots.values()
        } catch {
            return slots.values { _ in .failure(error) }
        }
    }

    /// ``results(_:)-3zw0p`` for `async` callers.
    public func results<Task: ParallelTask>(_ tasks: some Sequence<Task>) async -> [Result<Task.Output, any Error>] {
        let tasks = Array(tasks)
        let slots = ResultSlots<Result<Task.Output, any Error>>(count: tasks.count)
        do {
            try await executeAsync(tasks: tasks) { index, outcome in slots[index] = outcome }
            return slots.values()
        } catch {
            return slots.values { _ in .failure(error) }
        }
    }

    /// Runs async items as child tasks, at most `workers` at a time, with progress, fail-fast,
    /// cancellation and per-task timeouts.
    func executeAsyncBodies(taskCount: Int, _ runItem: @escaping @Sendable (Int) async throws -> Void) async throws {
        let plan = try plan()
        let reporter = plan.reporter(total: taskCount, parallel: self)
        defer { reporter.close() }
        reporter.started(backendName: plan.backendName, workers: plan.workers)
        guard taskCount > 0 else { return }
        let nested = plan.nested
        let timeout = plan.timeout
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            var completed = 0
            func add(_ index: Int) {
                group.addTask {
                    try await ParallelConfiguration.$storage.withValue(nested) {
                        if let timeout {
                            try await Self.withTimeout(timeout, taskIndex: index) { try await runItem(index) }
                        } else {
                            try await runItem(index)
                        }
                    }
                }
            }
            while next < min(plan.workers, taskCount) {
                add(next)
                next += 1
            }
            while try await group.next() != nil {
                completed += 1
                reporter.batchCompleted(.init(
                    completed: completed, dispatchedBatches: next, dispatchedTasks: next, dispatching: next < taskCount))
                if next < taskCount {
                    try Task.checkCancellation()
                    add(next)
                    next += 1
                }
            }
            try Task.checkCancellation()
        }
        reporter.finished()
    }

    static func withTimeout(
        _ limit: Duration, taskIndex: Int, _ body: @escaping @Sendable () async throws -> Void
    ) async throws {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await body()
                return true
            }
            group.addTask {
                try await Task.sleep(for: limit)
                return false
            }
            let finishedInTime = try await group.next()!
            group.cancelAll()
            if !finishedInTime { throw ParallelError.timeout(taskIndex: taskIndex, limit: limit) }
        }
    }
}

/// In which order ``Parallel/stream(_:order:)`` yields results.
public enum ResultOrder: Hashable, Sendable {
    /// Input order: a result waits until those before it have been yielded.
    case input
    /// As tasks complete.
    case completion
}

extension Parallel {
    /// The outputs of `tasks` as they are computed, each with its index in the input.
    ///
    /// The tasks start at once; stopping the iteration early (or cancelling its task) stops the
    /// call. The sequence throws the call's first error (as ``run(_:)-7o14y`` would).
    public func stream<Task: ParallelTask>(
        _ tasks: some Sequence<Task>, order: ResultOrder = .input
    ) -> AsyncThrowingStream<(index: Int, value: Task.Output), any Error> {
        let tasks = Array(tasks)
        return makeStream(count: tasks.count, order: order, remote: { sink in RemoteTasks(tasks, sink: sink) }) {
            try tasks[$0].run()
        }
    }

    /// The results of `body` applied to every input as they are computed, with their indices.
    public func stream<Input: Sendable, Output: Sendable>(
        _ inputs: some Sequence<Input>, order: ResultOrder = .input, _ body: @escaping @Sendable (Input) throws -> Output
    ) -> AsyncThrowingStream<(index: Int, value: Output), any Error> {
        let inputs = Array(inputs)
        return makeStream(count: inputs.count, order: order, remote: nil) { try body(inputs[$0]) }
    }

    /// The engine of both `stream`s: `produce` computes an item locally; `remote`, when given,
    /// lets a backend compute items elsewhere and deliver them to the same sink.
    private func makeStream<Output: Sendable>(
        count: Int, order: ResultOrder,
        remote: ((@escaping @Sendable (Int, Result<Output, any Error>) throws -> Void) -> RemoteTasks)?,
        produce: @escaping @Sendable (Int) throws -> Output
    ) -> AsyncThrowingStream<(index: Int, value: Output), any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: (index: Int, value: Output).self)
        let plan: Plan
        do { plan = try self.plan() } catch {
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
        let job = makeJob(plan, taskCount: count, remote: remote?(sink), batches: { batch in
            batch.forEachTask { index in try sink(index, Result { try produce(index) }) }
        })
        continuation.onTermination = { _ in job.cancel() }
        let backend = plan.backend
        let name = plan.backendName
        // Detached so that a backend that runs in the caller (sequential) does not run here.
        Task.detached {
            job.start(on: backend, named: name)
            await job.completion.wait()
            if let error = job.error { continuation.finish(throwing: error) } else { continuation.finish() }
        }
        return stream
    }
}
