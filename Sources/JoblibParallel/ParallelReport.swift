import JoblibSystem
import Synchronization

/// What one ``Parallel`` call did, per worker: delivered once per call, after it ends, to the
/// ``Parallel/report`` handler (and printed from `verbose: 11`).
///
/// The engine measures it the same way on every backend: a worker is what pulls batches from
/// the call (a thread, the thread that drives a worker process, a task for `async` closures), and
/// a worker is *busy* while it holds at least one batch, whether the batch runs there or
/// elsewhere. On a cluster (Dask, Ray) a worker is each Swift worker process that ran tasks
/// (its host names it and measures the time it ran the call's submissions, which is its busy
/// time), and the thread driving the call appears only for tasks none of them reported (a
/// lost submission, a timeout). So `busy` never exceeds ``wall``, and the workers'
/// `tasks` add up to the tasks that completed. Where tasks run in a worker process, that process
/// measures its own decoding, running and encoding and sends it with the outcomes, so `coding`
/// and `running` mean the same on every backend (both at most `busy`).
///
/// ```swift
/// let parallel = Parallel(jobs: 2, report: { report in
///     print(report.wall, report.workers.map { ($0.tasks, $0.busy) })
/// })
/// ```
public struct ParallelReport: Sendable, CustomStringConvertible {
    /// One worker's share of the call.
    public struct Worker: Sendable {
        /// Tasks completed in this worker's batches.
        public var tasks: Int
        /// Batches this worker took (including those it split off a busy worker's batch).
        public var batches: Int
        /// Time holding at least one batch: running tasks here, or waiting for another process
        /// or machine to run them (which includes moving the tasks and their results).
        public var busy: Duration
        /// Time between its start and the end of the call when it held no batch: waiting for the
        /// input, for other workers to leave it some work, or idle after its last batch.
        public var waiting: Duration
        /// From the start of the call to the worker's first request for work (starting a thread,
        /// checking out or starting a worker process, connecting to a cluster).
        public var startUp: Duration
        /// Time spent encoding and decoding its tasks and their outcomes (part of ``busy``): in
        /// this process, and in the worker process that ran them (as it measured). Zero when tasks
        /// run in this process, where nothing is encoded.
        public var coding: Duration
        /// Time running its tasks (part of ``busy``): measured where they run, around the tasks'
        /// bodies in a worker process, around the batches run in this process.
        public var running: Duration
    }

    /// The backend's name, as in progress lines.
    public var backend: String
    /// From the start of the call to its end.
    public var wall: Duration
    /// Tasks that completed (with a result or an error of their own).
    public var tasks: Int
    /// Whether the call failed as a whole (an error in a fail-fast call, a timeout, cancellation).
    public var failed: Bool
    /// One entry per worker, in the order they first asked for work.
    public var workers: [Worker]
    /// How many batches of each size were handed out (joblib's auto-batching, or the fixed size;
    /// splits of busy batches included).
    public var batchSizes: [Int: Int]

    /// The share of the workers' time (``wall`` × worker count) not spent busy: start-up,
    /// waiting and idle time. 0 for a call whose workers were busy from start to end.
    public var overheadShare: Double {
        let available = seconds(wall) * Double(workers.count)
        guard available > 0 else { return 0 }
        let busy = workers.reduce(0) { $0 + seconds($1.busy) }
        return max(0, min(1, 1 - busy / available))
    }

    /// A few lines: the call, then one per worker.
    public var description: String {
        var lines = [
            "\(tasks) tasks on \(backend) in \(format(wall))\(failed ? " (failed)" : ""); overhead "
                + "\(Int((overheadShare * 100).rounded()))%; batch sizes "
                + batchSizes.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: " "),
        ]
        for (number, worker) in workers.enumerated() {
            lines.append(
                "worker \(number): \(worker.tasks) tasks in \(worker.batches) batches, busy \(format(worker.busy)), "
                    + "running \(format(worker.running)), coding \(format(worker.coding)), waiting \(format(worker.waiting)), "
                    + "start-up \(format(worker.startUp))")
        }
        return lines.joined(separator: "\n")
    }

    private func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    private func format(_ duration: Duration) -> String {
        let value = seconds(duration)
        if value >= 1 { return ProgressFormat.time(value).trimmingPrefix(" ").description }
        return "\((value * 1e4).rounded() / 10) ms"
    }
}

/// The callback type of ``Parallel/report``.
public typealias ParallelReportHandler = @Sendable (ParallelReport) -> Void

/// Collects a call's ``ParallelReport`` as its batches come and go.
final class ReportRecorder: Sendable {
    private struct WorkerRecord {
        var firstRequest: UInt64
        var tasks = 0
        var batches = 0
        var holding = 0
        var busySince: UInt64 = 0
        var busy: UInt64 = 0
        var coding: UInt64 = 0
        var running: UInt64 = 0
    }

    private struct State {
        var backend = ""
        var start: UInt64 = 0
        var order: [UInt] = []
        var workers: [UInt: WorkerRecord] = [:]
        var sizes: [Int: Int] = [:]
        var delivered = false
        /// Workers elsewhere (a cluster's Swift workers), by the name their host gave, with the
        /// key of their record (counted down from `UInt.max`: no thread has such an identifier).
        var remote: [String: UInt] = [:]
        /// Tasks of each relaying worker (the thread driving a cluster call) that a worker
        /// elsewhere ran: they count there, not twice.
        var relayed: [UInt: Int] = [:]
    }

    private let handler: ParallelReportHandler?
    /// Whether anyone will see the report: otherwise nothing is recorded (it costs a lock per batch).
    let isActive: Bool
    private let state = Mutex(State())

    init(handler: ParallelReportHandler?, verbose: Int) {
        self.handler = handler
        self.isActive = handler != nil || verbose > 10
    }

    func start(backendName: String) {
        let now = monotonicNanoseconds()
        state.withLock {
            $0.backend = backendName
            $0.start = now
        }
    }

    func requested(by worker: UInt) {
        guard isActive else { return }
        state.withLock { state in
            guard state.workers[worker] == nil, !state.delivered else { return }
            state.workers[worker] = WorkerRecord(firstRequest: monotonicNanoseconds())
            state.order.append(worker)
        }
    }

    func handedOut(_ batch: ParallelBatch, at now: UInt64) {
        guard isActive else { return }
        state.withLock { state in
            state.sizes[batch.indices.count, default: 0] += 1
            guard var record = state.workers[batch.worker] else { return }
            if record.holding == 0 { record.busySince = now }
            record.holding += 1
            record.batches += 1
            state.workers[batch.worker] = record
        }
    }

    func finished(_ batch: ParallelBatch, tasks: Int, at now: UInt64) {
        guard isActive else { return }
        state.withLock { state in
            guard var record = state.workers[batch.worker] else { return }
            record.tasks += tasks
            record.holding -= 1
            if record.holding == 0 { record.busy += now - record.busySince }
            state.workers[batch.worker] = record
        }
    }

    /// Time the calling thread spent encoding or decoding for a worker elsewhere.
    func coded(nanoseconds: UInt64) {
        guard isActive else { return }
        let worker = currentThreadIdentifier()
        state.withLock { state in state.workers[worker]?.coding += nanoseconds }
    }

    /// What a worker elsewhere measured for the tasks of one of `worker`'s batches: its decoding
    /// and encoding count as that worker's coding time, its running as its running time.
    func workerTimed(_ worker: UInt, _ timing: RemoteTiming) {
        guard isActive else { return }
        state.withLock { state in
            state.workers[worker]?.coding += timing.decoding + timing.encoding
            state.workers[worker]?.running += timing.running
        }
    }

    /// The worker elsewhere named `name` (a cluster's Swift worker, as its host names it) ran a
    /// submission of `relay`'s for `nanoseconds` (its host's measure), which ended `now`: one more
    /// batch and busy time of its own. It appears in the report when first seen, and the relay
    /// only keeps the tasks no worker elsewhere reported (see ``relayed(_:to:tasks:timing:)``).
    func ranElsewhere(_ name: String, nanoseconds: UInt64, at now: UInt64) {
        guard isActive else { return }
        state.withLock { state in
            guard !state.delivered else { return }
            let key: UInt
            if let known = state.remote[name] {
                key = known
            } else {
                key = UInt.max - UInt(state.remote.count)
                state.remote[name] = key
                state.order.append(key)
                state.workers[key] = WorkerRecord(firstRequest: max(state.start, now - min(now, nanoseconds)))
            }
            state.workers[key]?.batches += 1
            state.workers[key]?.busy += nanoseconds
        }
    }

    /// `tasks` of `relay`'s batches completed on the worker elsewhere named `name`, which
    /// measured `timing` for them: they count as that worker's tasks, coding and running time.
    func relayed(_ relay: UInt, to name: String, tasks: Int, timing: RemoteTiming?) {
        guard isActive else { return }
        state.withLock { state in
            guard let key = state.remote[name] else { return }
            state.workers[key]?.tasks += tasks
            state.relayed[relay, default: 0] += tasks
            if let timing {
                state.workers[key]?.coding += timing.decoding + timing.encoding
                state.workers[key]?.running += timing.running
            }
        }
    }

    /// `worker` ran one of its batches in this process for `nanoseconds`.
    func ran(_ worker: UInt, nanoseconds: UInt64) {
        guard isActive else { return }
        state.withLock { state in state.workers[worker]?.running += nanoseconds }
    }

    /// Builds the report, prints it from `verbose: 11` and hands it to the handler (once).
    func deliver(tasks: Int, failed: Bool, verbose: Int, output: ProgressOutput, jobs: String) {
        guard isActive else { return }
        let end = monotonicNanoseconds()
        let report = state.withLock { state -> ParallelReport? in
            guard !state.delivered else { return nil }
            state.delivered = true
            let wall = end - state.start
            let workers = state.order.compactMap { id -> ParallelReport.Worker? in
                var record = state.workers[id]!
                if let moved = state.relayed[id] {
                    // A relay is shown only for tasks no worker elsewhere reported (lost, timed out).
                    record.tasks -= moved
                    if record.tasks <= 0 { return nil }
                }
                let startUp = min(record.firstRequest - min(record.firstRequest, state.start), wall)
                let busy = min(record.busy + (record.holding > 0 ? end - record.busySince : 0), wall - startUp)
                return ParallelReport.Worker(
                    tasks: record.tasks, batches: record.batches, busy: .nanoseconds(busy),
                    waiting: .nanoseconds(wall - startUp - busy), startUp: .nanoseconds(startUp),
                    coding: .nanoseconds(min(record.coding, busy)), running: .nanoseconds(min(record.running, busy)))
            }
            return ParallelReport(
                backend: state.backend, wall: .nanoseconds(wall), tasks: tasks, failed: failed, workers: workers,
                batchSizes: state.sizes)
        }
        guard let report else { return }
        if verbose > 10 {
            for line in report.description.split(separator: "\n") {
                output.write(ProgressFormat.line(jobs: jobs, "Report: " + line) + "\n")
            }
        }
        handler?(report)
    }
}
