import JoblibCoding
import JoblibSystem

/// What a transport saw happen to the tasks a ``RemoteBatch`` had it send.
package enum RemoteEvent {
    /// Outcomes of the next tasks sent, in the order sent: `errors` by position, the other tasks'
    /// outputs encoded together as one `[Output]`; `timing` is the worker's own account of them.
    /// `sections` serves the large arrays the outputs refer to (a worker process's memory files).
    case results(indices: [Int], errors: [Int: any Error], outputs: [UInt8], timing: RemoteTiming?, sections: (any BulkSectionReader)? = nil)
    /// The worker that ran the tasks ended. Its status words named `runningTask` (nil: none) at
    /// `stage`; `stderrTail` is what it printed last.
    case died(status: ProcessExitStatus, runningTask: Int?, stage: RemoteTaskError.Stage?, stderrTail: String)
    /// The worker was killed because task `index` ran past the call's timeout.
    case timedOut(Int)
    /// The transport's answer for the tasks sent is complete (a relayed batch returned): tasks
    /// with no outcome in it get an error instead of being waited for.
    case answered
    /// The transport gave up on the tasks sent (a cluster lost them): each fails with the error
    /// for its index, and the call goes on (unless that fails it).
    case tasksLost((Int) -> any Error)
    /// The transport lost the tasks sent (a broken bridge, a lost cluster): the call fails.
    case lost(any Error)
}

/// Time a worker elsewhere spent on the tasks of one `results` frame (nanoseconds): decoding
/// them, running them and encoding their outcomes. It travels inside the frame.
package struct RemoteTiming: Sendable, Equatable, Codable {
    package var decoding: UInt64
    package var running: UInt64
    package var encoding: UInt64

    package init(decoding: UInt64, running: UInt64, encoding: UInt64) {
        self.decoding = decoding
        self.running = running
        self.encoding = encoding
    }
}

/// What the driver of a ``RemoteBatch`` does next.
package enum RemoteStep: Equatable {
    /// Send these tasks, encoded as one `[Task]`, to the worker, then report what happens to them.
    case send(indices: [Int], tasks: [UInt8])
    /// Wait for the next event about the tasks sent.
    case wait
    /// The call stopped while tasks sent are still running: stop them (kill the worker, cancel
    /// the remote task). The batch is over.
    case abandon
    /// The batch is over; nothing of it runs elsewhere.
    case done
}

/// One batch sent elsewhere, as a state machine: the only place that decides, for every remote
/// transport, which tasks to send, whom a death blames, how retries are counted, what a timeout
/// costs and when the batch is over. The driver (one thread) feeds it the transport's events
/// and does what each ``RemoteStep`` says; after `.abandon` or `.done` it calls ``finish()``.
///
/// Tasks go out in slices claimed from the batch (``ParallelBatch/claimSlice(_:)``), so that an
/// idle worker can split off the unclaimed tail: a fast task does not wait behind a slow one
/// (at most behind the rest of its slice and the slice sent after it). Slices of one task go out
/// one at a time; larger ones two at a time, so that the worker never idles for a round trip
/// (tiny tasks keep their throughput). Outcomes go to the call through ``RemoteTasks``.
package struct RemoteBatch {
    package let batch: ParallelBatch
    private let remote: RemoteTasks
    private let sections: (any BulkSectionWriter)?
    private let sliceSize: Int
    /// Tasks sent, in order, with no outcome yet.
    package private(set) var sent: [Int] = []
    /// The tasks of each slice in flight still without an outcome, oldest first.
    private var slices: [Int] = []
    /// A second slice too large to send while the worker runs the first (the send could block
    /// while the worker blocks writing results nobody reads): it goes out when the first is done.
    private var held: (indices: [Int], tasks: [UInt8])?
    /// The largest second slice sent before the first one is done (it fits a socket's buffer).
    static let largestSliceAhead = 32 * 1024
    /// Tasks of the batch that got an outcome (a result or an error of their own).
    package private(set) var completed = 0
    /// Re-runs used per task after deaths that blamed it.
    package private(set) var retriesUsed: [Int: Int] = [:]
    /// Deaths in a row that named no task: the first re-runs everything, the next blames the first.
    private var deathsWithoutCulprit = 0
    private var finished = false
    /// The worker elsewhere whose events are handled now (a cluster's Swift worker, by the name
    /// its host gave; nil: the batch's own worker process), for the report.
    private var remoteWorker: String?
    /// At most this many slices in flight: 2 for a worker process (it runs them in order), 1 on
    /// a cluster (each slice is a submission, which any cluster worker may run at any time).
    private let slicesInFlight: Int

    /// A batch of a call of ``ParallelTask`` values (``ParallelJob/remoteTasks`` is not nil).
    /// `sliceSize` tasks go out at a time (default: ``defaultSliceSize(of:)``).
    /// `slicesInFlight` (1 or 2) slices are in flight at once.
    package init(_ batch: ParallelBatch, sections: (any BulkSectionWriter)? = nil, sliceSize: Int? = nil, slicesInFlight: Int = 2) {
        guard let remote = batch.job.remote else { preconditionFailure("a RemoteBatch needs a call of ParallelTask values") }
        self.batch = batch
        self.remote = remote
        self.sections = sections
        self.sliceSize = max(1, sliceSize ?? Self.defaultSliceSize(of: batch))
        self.slicesInFlight = min(2, max(1, slicesInFlight))
    }

    /// The events handled next come from the worker elsewhere named `name` (a cluster's Swift
    /// worker, as its host names it), which ran the slice for `nanoseconds`: the report counts
    /// the slice, its tasks and its timing as that worker's, not the driving thread's.
    package mutating func ranElsewhere(on name: String, nanoseconds: UInt64) {
        remoteWorker = name
        batch.job.recorder.ranElsewhere(name, nanoseconds: nanoseconds, at: monotonicNanoseconds())
    }

    /// The work a slice of a large batch carries at least, so that the cost of a slice (a few
    /// tens of microseconds in both processes) stays small next to it: tiny tasks keep their
    /// throughput (`processes-overhead` benchmark).
    static let smallestSliceSeconds = 0.002

    /// An eighth of the batch (at least one task). A batch of 16 tasks or more (auto-batching
    /// made it large because its tasks are fast) goes out in slices of at least
    /// ``smallestSliceSeconds`` of work, as the call's last batch measured it.
    static func defaultSliceSize(of batch: ParallelBatch) -> Int {
        let count = batch.indices.count
        let eighth = max(1, count / 8)
        guard count >= 16, let seconds = batch.job.recentSecondsPerTask, seconds > 0 else { return eighth }
        return min(count, max(eighth, Int((smallestSliceSeconds / seconds).rounded(.up))))
    }

    /// The first step: the first slice to send (or `.done` when the call has stopped).
    package mutating func start() -> RemoteStep { nextSlice() }

    /// The step after the driver sent what `.send` said: another slice (two in flight), or wait.
    package mutating func sentSlice() -> RemoteStep {
        guard sliceSize > 1, slices.count < slicesInFlight, held == nil, !batch.callStopped, let slice = batch.claimSlice(sliceSize) else {
            return .wait
        }
        return send(Array(slice), appending: true)
    }

    /// The step after `event`.
    package mutating func handle(_ event: RemoteEvent) -> RemoteStep {
        switch event {
        case .results(let indices, let errors, let outputs, let timing, let sections):
            return received(indices, errors, outputs, timing, sections)
        case .died(let status, let runningTask, let stage, let stderrTail):
            return died(status, runningTask, stage, stderrTail)
        case .timedOut(let index):
            return timedOut(index)
        case .answered:
            return answered()
        case .tasksLost(let error):
            return failSent { error($0) }
        case .lost(let error):
            batch.failCall(error)
            clearSent()
            return .done
        }
    }

    /// Tells the call the batch is over (once; later calls do nothing).
    package mutating func finish() {
        guard !finished else { return }
        finished = true
        batch.finishRemotely(completed: completed)
    }

    // MARK: - Events

    private mutating func received(
        _ indices: [Int], _ errors: [Int: any Error], _ outputs: [UInt8], _ timing: RemoteTiming?, _ sections: (any BulkSectionReader)?
    ) -> RemoteStep {
        if let timing, remoteWorker == nil { batch.job.recorder.workerTimed(batch.worker, timing) }
        guard indices.count <= sent.count, Array(sent.prefix(indices.count)) == indices else {
            batch.failCall(ParallelError(
                .workerDied,
                "a worker sent outcomes for tasks \(indices.prefix(8)) while tasks \(sent.prefix(8)) were next: it is "
                    + "not following the worker protocol"))
            return stopSent()
        }
        var delivered = 0
        do {
            try remote.deliverBatch(indices, errors, outputs, sections, &delivered)
        } catch {
            // The outcome failed the call (fail-fast): the one that failed it counts as completed.
            if let remoteWorker {
                batch.job.recorder.relayed(batch.worker, to: remoteWorker, tasks: delivered + 1, timing: timing)
            }
            completed += delivered + 1
            sent.removeFirst(min(delivered + 1, sent.count))
            batch.failCall(error)
            return stopSent()
        }
        if let remoteWorker { batch.job.recorder.relayed(batch.worker, to: remoteWorker, tasks: delivered, timing: timing) }
        completed += delivered
        sent.removeFirst(delivered)
        var left = delivered
        while left > 0, !slices.isEmpty {
            let taken = min(left, slices[0])
            slices[0] -= taken
            left -= taken
            if slices[0] == 0 { slices.removeFirst() }
        }
        if batch.callStopped { return stopSent() }
        if !sent.isEmpty { return sentSlice() }
        if let (indices, tasks) = held {
            held = nil
            sent = indices
            slices = [indices.count]
            return .send(indices: indices, tasks: tasks)
        }
        return nextSlice()
    }

    /// The worker died: the task its status words named killed it. The tasks before it finished,
    /// but their outcomes died with the worker, so they run again; the tasks after it never started.
    private mutating func died(
        _ status: ProcessExitStatus, _ runningTask: Int?, _ stage: RemoteTaskError.Stage?, _ stderrTail: String
    ) -> RemoteStep {
        let unreported = sent + (held?.indices ?? [])
        clearSent()
        if batch.callStopped { return .done }
        if unreported.isEmpty { return nextSlice() }
        let named = runningTask.flatMap { unreported.firstIndex(of: $0) }
        guard let position = named ?? (deathsWithoutCulprit > 0 ? 0 : nil) else {
            // Killed while it named no task (from outside, between two tasks): run the rest again
            // once, blaming none; if that happens again, the first task is blamed.
            deathsWithoutCulprit += 1
            return send(unreported)
        }
        deathsWithoutCulprit = 0
        let index = unreported[position]
        var again = Array(unreported[..<position])
        if retriesUsed[index, default: 0] < batch.job.retries {
            retriesUsed[index, default: 0] += 1
            again.append(index)
        } else {
            let error = ParallelError.workerDied(
                taskIndex: index, status: status, stderrTail: stderrTail, stage: named != nil ? stage : nil)
            guard deliver(index, .failure(error)) else { return .done }
        }
        return send(again + unreported[(position + 1)...])
    }

    /// The worker was killed for running task `index` past the timeout: that task fails with
    /// `timeout` (in `results` the others go on); the others run again.
    private mutating func timedOut(_ index: Int) -> RemoteStep {
        var unreported = sent + (held?.indices ?? [])
        clearSent()
        if batch.callStopped { return .done }
        if let position = unreported.firstIndex(of: index) {
            unreported.remove(at: position)
            let limit = batch.job.taskTimeout ?? .zero
            let error = ParallelError(
                .timeout,
                "task \(index) ran longer than the timeout of \(limit): its worker process was killed "
                    + "(a new one takes its place)",
                taskIndex: index)
            guard deliver(index, .failure(error)) else { return .done }
        }
        return send(unreported)
    }

    /// The answer is complete: a task still waiting for its outcome will not get one.
    private mutating func answered() -> RemoteStep {
        failSent { index in
            RemoteTaskError(
                taskIndex: index, stage: .running, typeName: "JoblibParallel.MissingOutcome",
                errorDescription: "the worker's answer held no outcome for this task")
        }
    }

    /// The tasks sent without an outcome fail, each with `error(index)`; a held slice (never
    /// sent) goes out next.
    private mutating func failSent(_ error: (Int) -> any Error) -> RemoteStep {
        let failed = sent
        sent = []
        slices = []
        for index in failed {
            guard deliver(index, .failure(error(index))) else { return .done }
        }
        if let (indices, _) = held {
            held = nil
            return send(indices)
        }
        return nextSlice()
    }

    // MARK: - Sending

    /// Nothing sent is running any more: the next slice of the batch, or `.done`.
    private mutating func nextSlice() -> RemoteStep {
        guard !batch.callStopped, let slice = batch.claimSlice(sliceSize) else { return .done }
        return send(Array(slice))
    }

    private mutating func clearSent() {
        sent = []
        slices = []
        held = nil
    }

    /// Encodes `indices` in one pass and sends them (after the slice in flight when `appending`).
    /// When that fails, the tasks that cannot be encoded fail alone, before anything is sent, and
    /// the others are encoded again.
    private mutating func send(_ indices: [Int], appending: Bool = false) -> RemoteStep {
        guard !indices.isEmpty else { return appending ? .wait : nextSlice() }
        if batch.callStopped { return appending ? stopSent() : .done }
        if let tasks = try? remote.encodeBatch(indices, sections) { return sending(indices, tasks, appending) }
        var encodable: [Int] = []
        for index in indices {
            do {
                _ = try remote.encode(index, sections)
                encodable.append(index)
            } catch {
                guard deliver(index, .failure(error)) else { return appending ? stopSent() : .done }
            }
        }
        guard !encodable.isEmpty else { return appending ? .wait : nextSlice() }
        do {
            return sending(encodable, try remote.encodeBatch(encodable, sections), appending)
        } catch {
            // Each task encodes alone but not together: nothing can be sent.
            batch.failCall(error)
            return appending ? stopSent() : .done
        }
    }

    private mutating func sending(_ indices: [Int], _ tasks: [UInt8], _ appending: Bool) -> RemoteStep {
        if appending && tasks.count > Self.largestSliceAhead {
            held = (indices, tasks)
            return .wait
        }
        sent += indices
        slices.append(indices.count)
        return .send(indices: indices, tasks: tasks)
    }

    /// The call stopped with tasks sent: they must not run on.
    private mutating func stopSent() -> RemoteStep {
        let running = !sent.isEmpty
        clearSent()
        return running ? .abandon : .done
    }

    /// Hands an outcome to the call; false when it failed the call (stop the batch).
    private mutating func deliver(_ index: Int, _ outcome: Result<[UInt8], any Error>) -> Bool {
        completed += 1
        do {
            try remote.deliver(index, outcome)
            return true
        } catch {
            batch.failCall(error)
            return false
        }
    }
}
