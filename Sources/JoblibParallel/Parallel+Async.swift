extension Parallel {
    /// ``map(_:_:)-57qad`` for `async` callers: the tasks run on the backend's
    /// workers while the caller is suspended, so no thread of the cooperative pool blocks.
    ///
    /// - Throws: as the blocking `map`.
    @inlinable
    public func map<Input: Sendable, Output: Sendable>(
        _ inputs: some Sequence<Input>, _ body: @escaping @Sendable (Input) throws -> Output
    ) async throws -> [Output] {
        let source = InputSource.reading(inputs)
        let store = ResultStore<Output>(count: source.count)
        let (count, error) = await executeAsync(source, batches: { batch in
            let chunk = batch.inputs(of: Input.self)
            return store.run(batch) { index in try body(chunk[index]) }
        })
        if let error { throw error }
        return store.values(count: count)
    }

    /// `async` `body` applied to every input, at most `jobs` at a time; results in input order.
    ///
    /// Runs through the same engine as the blocking calls (batching, progress, fail-fast,
    /// cancellation, timeouts, ``report``): each of the backend's workers is a child task of the
    /// caller's (it inherits its priority and task-local values) that runs its batches' bodies
    /// one after the other, so `body` should suspend rather than block (use the
    /// synchronous-`body` overload for blocking work). On a timeout the overrunning body is
    /// cancelled and the call fails with ``ParallelError/Code/timeout`` once it returns. Closures run only on
    /// backends that run closures (``Backend/sequential``, ``Backend/threads``): others fail with
    /// ``ParallelError/Code/unsupportedTask``, as the blocking `map` does.
    ///
    /// - Throws: as the blocking `map`.
    public func map<Input: Sendable, Output: Sendable>(
        _ inputs: some Sequence<Input>, _ body: @escaping @Sendable (Input) async throws -> Output
    ) async throws -> [Output] {
        let source = InputSource.reading(inputs)
        let store = ResultStore<Output>(count: source.count)
        let (count, error) = await executeCallAsync(source, asyncBatches: { batch in
            let chunk = batch.inputs(of: Input.self)
            return await store.run(batch) { index in try await body(chunk[index]) }
        })
        if let error { throw error }
        return store.values(count: count)
    }

    /// ``run(_:)-7o14y`` for `async` callers, without blocking the cooperative pool.
    public func run<Task: ParallelTask>(_ tasks: some Sequence<Task>) async throws -> [Task.Output] {
        let source = InputSource.reading(tasks)
        let store = ResultStore<Task.Output>(count: source.count)
        let (count, error) = await executeAsync(source, of: Task.self, store: store, outputIsEntry: true) { try $0.get() }
        if let error { throw error }
        return store.values(count: count)
    }

    /// ``mapResults(_:_:)-8ymsr`` for `async` callers.
    @inlinable
    public func mapResults<Input: Sendable, Output: Sendable>(
        _ inputs: some Sequence<Input>, _ body: @escaping @Sendable (Input) throws -> Output
    ) async -> [Result<Output, any Error>] {
        let source = InputSource.reading(inputs)
        let store = ResultStore<Result<Output, any Error>>(count: source.count)
        let (count, error) = await executeAsync(source, batches: { batch in
            let chunk = batch.inputs(of: Input.self)
            return store.run(batch) { index in Result { try body(chunk[index]) } }
        })
        return store.values(count: count) { _ in .failure(error ?? CancellationError()) }
    }

    /// ``results(_:)-3zw0p`` for `async` callers.
    public func results<Task: ParallelTask>(_ tasks: some Sequence<Task>) async -> [Result<Task.Output, any Error>] {
        let source = InputSource.reading(tasks)
        let store = ResultStore<Result<Task.Output, any Error>>(count: source.count)
        let (count, error) = await executeAsync(source, of: Task.self, store: store) { $0 }
        return store.values(count: count) { _ in .failure(error ?? CancellationError()) }
    }
}
