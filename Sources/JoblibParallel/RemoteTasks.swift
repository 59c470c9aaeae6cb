import JoblibCoding

/// What a backend that runs tasks in another process (or machine) needs from a call: the tasks
/// as bytes, and a way to hand their outcomes back. Present only on calls of ``ParallelTask``
/// values; closures cannot leave the process.
package struct RemoteTasks: Sendable {
    /// The tasks' type, which the other side resolves by name.
    package let taskType: any ParallelTask.Type
    /// The task at an index, encoded with `BinaryEncoder` (through `sections` when given).
    package let encode: @Sendable (Int, (any BulkSectionWriter)?) throws -> [UInt8]
    /// Hands over the outcome of the task at an index: its encoded output, or the error it
    /// failed with. Throws when the outcome fails the call (an error in a fail-fast call).
    package let deliver: @Sendable (Int, Result<[UInt8], any Error>) throws -> Void

    /// Remote access to `tasks`, whose outcomes go to `sink` exactly as local runs' do.
    init<Task: ParallelTask>(
        _ tasks: [Task], sink: @escaping @Sendable (Int, Result<Task.Output, any Error>) throws -> Void
    ) {
        taskType = Task.self
        encode = { index, sections in try BinaryEncoder().encode(tasks[index], sections: sections) }
        deliver = { index, outcome in
            try sink(index, outcome.flatMap { bytes in Result { try BinaryDecoder().decode(Task.Output.self, from: bytes) } })
        }
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
    /// For backends that run tasks elsewhere: the task at `index` is running from now on (the
    /// watchdog measures timeouts from here).
    package func markRunning(_ index: Int) { setCurrent(index) }

    /// For backends that run tasks elsewhere: the batch is over with `completed` tasks done.
    /// Call it once, after delivering their outcomes through ``ParallelJob/remoteTasks``.
    package func finishRemotely(completed: Int) {
        clearCurrent()
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
