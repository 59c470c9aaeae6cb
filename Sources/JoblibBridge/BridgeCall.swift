import JoblibCoding
import JoblibParallel
import JoblibProcesses
import JoblibSystem

/// One call on a cluster, driven by one thread: it keeps one submission per cluster thread (a
/// batch from the job's auto-batching, or a slice of one) in flight through a bridge, hands each result back as it arrives and turns every
/// failure into an error for the task or the call it concerns. The same for every remote backend:
/// what differs is in the bridge's ``BridgeSettings``.
package final class BridgeCall: Sendable {
    let job: ParallelJob
    let remote: RemoteTasks
    let typeName: String
    let pool: BridgePool

    package init(job: ParallelJob, remote: RemoteTasks, typeName: String, pool: BridgePool) {
        self.job = job
        self.remote = remote
        self.typeName = typeName
        self.pool = pool
    }

    private static let pollInterval = Duration.milliseconds(50)

    /// The work left per cluster thread under which a call keeps one submission per thread.
    static let pipelinedSecondsPerThread = 0.5

    /// The least work a submission carries when a batch goes out in slices: a cluster's round
    /// trip (~10 ms on Dask) stays a small share of it, so tiny tasks keep their throughput.
    static let smallestSubmissionSeconds = 0.2

    /// How many tasks of `batch` go out per submission: slices of at least
    /// ``smallestSubmissionSeconds`` of work as the call's last batch measured it (one task when
    /// nothing was measured yet), one submission at a time, claimed from the batch, so that an
    /// idle cluster thread splits off its unsent tail once the input is exhausted and a fast task
    /// does not wait behind a slow one. Batches of tiny tasks go out whole (auto-batching sizes
    /// them at 0.2–2 s of work); the extra round trips of larger ones are hidden by the second
    /// submission per cluster thread while the input lasts.
    static func sliceSize(of batch: ParallelBatch, in job: ParallelJob) -> Int {
        let seconds = job.recentSecondsPerTask ?? 0
        let perSlice = seconds > 0 ? max(1, Int((smallestSubmissionSeconds / seconds).rounded(.up))) : 1
        return min(batch.indices.count, perSlice)
    }

    /// Starts a call of `job` on a bridge for `settings`, driven by a thread of its own; the
    /// ``/JoblibParallel/ParallelBackend`` `start` of every remote backend.
    /// - Throws: ``/JoblibParallel/ParallelError`` `unsupportedTask` (closures, or a task type other
    ///   processes cannot find by name) or `workerUnavailable`.
    package static func start(_ job: ParallelJob, settings: some BridgeSettings) throws {
        let name = settings.backendName
        guard let remote = job.remoteTasks else {
            throw ParallelError(
                .unsupportedTask,
                "closures cannot run on a \(name) cluster; pass ParallelTask values to run(_:), results(_:) or "
                    + "stream(_:order:), or use the .threads backend")
        }
        // Checked before anything starts: a type other processes cannot find by name.
        let typeName = try TaskTypeName.name(of: remote.taskType)
        let call = BridgeCall(job: job, remote: remote, typeName: typeName, pool: BridgePool.pool(for: settings))
        do {
            try startDetachedThread(name: "joblib-\(name.lowercased())") { call.run() }
        } catch {
            throw ParallelError(.workerUnavailable, "could not start the thread that drives the \(name) call", underlying: error)
        }
    }

    package func run() {
        let bridge: Bridge
        do {
            bridge = try pool.checkOut()
        } catch {
            // No batch has been handed out yet: take one to fail the call through.
            if let batch = job.nextBatch() {
                batch.failCall(error)
                batch.finishRemotely(completed: 0)
            }
            return
        }
        var loop = Loop(call: self, bridge: bridge)
        loop.run()
        // Back in the pool before the call completes: a caller that shuts the pool down right
        // after the call finds the bridge there.
        pool.checkIn(bridge)
        loop.flushFinished()
    }

    /// The state of the driving thread. Each batch is one ``RemoteBatch`` (JoblibParallel), which
    /// decides what to submit, whom a death blames, retries, timeouts and when the batch is over;
    /// this loop turns the bridge's replies into its events. A batch goes out whole or in slices
    /// (``sliceSize(of:in:)``), one submission at a time: submissions run on any cluster worker, in
    /// any order, and a batch's outcomes must come back in order.
    private struct Loop {
        let call: BridgeCall
        let bridge: Bridge
        /// Batches in flight, by a key of this loop.
        var batches: [Int: RemoteBatch] = [:]
        var nextKey = 0
        /// The batch (key) of each submission in flight.
        var submissions: [UInt64: Int] = [:]
        /// Batches that are over, reported to the job at the next turn of the loop (or after the
        /// bridge went back to the pool, for the last ones).
        var finished: [RemoteBatch] = []
        /// Submissions in flight at most: the backend's (two per cluster thread, so that a thread
        /// never idles for a round trip) while much work is left (``pipelines``), else one per
        /// cluster thread: a submission queued behind a running one on a cluster worker would
        /// wait for it however fast its own tasks, and nobody could split it off.
        let limit: Int
        let tailLimit: Int
        let timeoutSeconds: Double

        init(call: BridgeCall, bridge: Bridge) {
            self.call = call
            self.bridge = bridge
            limit = bridge.settings.inFlightLimit(bridge)
            tailLimit = max(1, min(limit, bridge.clusterThreads))
            timeoutSeconds = call.job.taskTimeout.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 } ?? 0
        }

        mutating func run() {
            while true {
                while batches.count < (pipelines ? limit : tailLimit), let batch = call.job.nextBatch() {
                    let key = nextKey
                    nextKey += 1
                    batches[key] = RemoteBatch(batch, sliceSize: BridgeCall.sliceSize(of: batch, in: call.job), slicesInFlight: 1)
                    perform(batches[key]!.start(), key)
                }
                guard let any = batches.values.first else { return }
                flushFinished()
                if any.batch.callStopped {
                    abandonAll()
                    return
                }
                let reply: Bridge.Reply
                do {
                    reply = try bridge.receive(timeout: BridgeCall.pollInterval)
                } catch {
                    bridge.broken.store(true, ordering: .relaxed)
                    failAll(error)
                    return
                }
                switch reply {
                case .timedOut:
                    continue
                case .closed:
                    bridge.broken.store(true, ordering: .relaxed)
                    let status = bridge.process.wait(timeout: .seconds(1)).map { "\($0)" } ?? "still running"
                    failAll(settings.failure(
                        .bridgeFailed,
                        "the \(settings.backendName) bridge exited during the call (\(status)); its output:\n\(bridge.stderrTail)"))
                    return
                case .frame(let kind, let body):
                    handle(kind, body)
                }
            }
        }

        var settings: any BridgeSettings { bridge.settings }

        /// Whether a second submission per cluster thread is worth its risk: the tasks were
        /// measured, and the input is not exhausted and holds at least
        /// ``BridgeCall/pipelinedSecondsPerThread`` of their work per thread (or its count is
        /// unknown). Small calls and a call's tail keep one per thread: completion order.
        var pipelines: Bool {
            guard limit > tailLimit, let seconds = call.job.recentSecondsPerTask, seconds > 0 else { return false }
            guard let left = call.job.tasksNotHandedOut else { return true }
            return Double(left) * seconds >= BridgeCall.pipelinedSecondsPerThread * Double(tailLimit)
        }

        /// Does what the batch's state machine says until it waits for the bridge.
        mutating func perform(_ first: RemoteStep, _ key: Int) {
            var step = first
            while true {
                switch step {
                case .wait:
                    return
                case .send(let indices, let tasks):
                    guard let id = submit(indices, tasks) else {
                        batches[key]!.batch.failCall(settings.failure(.bridgeFailed, "could not send a task to the \(settings.backendName) bridge"))
                        step = .done
                        continue
                    }
                    submissions[id] = key
                    step = batches[key]!.sentSlice()
                case .abandon:
                    cancel(submissions.filter { $0.value == key }.map(\.key))
                    step = .done
                case .done:
                    for (id, owner) in submissions where owner == key { submissions[id] = nil }
                    if let state = batches.removeValue(forKey: key) { finished.append(state) }
                    return
                }
            }
        }

        /// Sends tasks as one submission; its id, or nil when the bridge cannot take it (broken).
        mutating func submit(_ indices: [Int], _ tasks: [UInt8]) -> UInt64? {
            // Unique over the bridge's life, not just this call: the bridge outlives calls, and a
            // reused id would pick up a cancelled call's late result (and Dask would hand back
            // the old future for a reused key; Ray names nothing after it, but the rule costs nothing).
            let id = bridge.nextSubmissionID()
            do {
                let payload = try BinaryEncoder().encode(BatchMessage(typeName: call.typeName, indices: indices, tasks: tasks))
                var body = [UInt8]()
                body.reserveCapacity(20 + payload.count)
                withUnsafeBytes(of: id.littleEndian) { body.append(contentsOf: $0) }
                withUnsafeBytes(of: UInt32(indices.count).littleEndian) { body.append(contentsOf: $0) }
                withUnsafeBytes(of: timeoutSeconds.bitPattern.littleEndian) { body.append(contentsOf: $0) }
                body.append(contentsOf: payload)
                try bridge.send(BridgeFrame.submit, body)
                return id
            } catch {
                bridge.broken.store(true, ordering: .relaxed)
                return nil
            }
        }

        mutating func handle(_ kind: UInt8, _ body: [UInt8]) {
            if kind == BridgeFrame.failed {
                bridge.broken.store(true, ordering: .relaxed)
                failAll(settings.failure(frame: body))
                return
            }
            guard kind == BridgeFrame.result, body.count >= 9 else { return }
            let id = body.loadLittleEndian(UInt64.self, at: 0)
            // A result of a submission cancelled earlier (this call or a previous one) is ignored.
            guard let key = submissions.removeValue(forKey: id), batches[key] != nil else { return }
            var rest = Array(body[9...])
            if body[8] <= 1 {
                // Which Swift worker ran it and for how long (its host's measure), for the report.
                let nameEnd = rest.count >= 10 ? 10 + Int(rest.loadLittleEndian(UInt16.self, at: 8)) : Int.max
                guard nameEnd <= rest.count else { return handled([malformed()], key) }
                batches[key]!.ranElsewhere(
                    on: String(decoding: rest[10..<nameEnd], as: UTF8.self), nanoseconds: rest.loadLittleEndian(UInt64.self, at: 0))
                rest = Array(rest[nameEnd...])
            }
            handled(events(status: body[8], rest), key)
        }

        /// Hands a reply's events to its batch until it stops waiting, then does what it says.
        mutating func handled(_ replyEvents: [RemoteEvent], _ key: Int) {
            var step = RemoteStep.wait
            for event in replyEvents {
                step = batches[key]!.handle(event)
                if step != .wait { break }
            }
            perform(step, key)
        }

        /// The bridge's answer for one submission, as the batch's events.
        func events(status: UInt8, _ rest: [UInt8]) -> [RemoteEvent] {
            switch status {
            case 0:
                // Everything the worker sent; then the answer is complete (missing outcomes fail).
                guard let frames = results(rest) else { return [malformed()] }
                return frames + [.answered]
            case 1:
                // The Swift worker died or overran: the outcomes it sent first, then its death
                // record. Its status word names the task it was running.
                guard rest.count >= 4 else { return [malformed()] }
                let framesLength = Int(rest.loadLittleEndian(UInt32.self, at: 0))
                guard rest.count >= 4 + framesLength + 21, let frames = results(Array(rest[4..<(4 + framesLength)])) else {
                    return [malformed()]
                }
                let info = 4 + framesLength
                let code = Int32(bitPattern: rest.loadLittleEndian(UInt32.self, at: info))
                let signal = Int32(bitPattern: rest.loadLittleEndian(UInt32.self, at: info + 4))
                let timedOut = rest[info + 8] != 0
                let running = rest.loadLittleEndian(UInt64.self, at: info + 13)
                let tail = String(decoding: rest[(info + 21)...], as: UTF8.self)
                let runningTask = running > 0 ? Int(running - 1) : nil
                if timedOut, let runningTask { return frames + [.timedOut(runningTask)] }
                let status: ProcessExitStatus = signal > 0 ? .signaled(signal) : .exited(code)
                return frames + [.died(status: status, runningTask: runningTask, stage: nil, stderrTail: tail)]
            default:
                // The cluster lost the submission (its tasks fail, the call goes on), or the
                // cluster or the bridge failed (the call fails).
                let code = BridgeFailure(rawValue: rest.first ?? BridgeFailure.bridgeFailed.rawValue)
                if code == .taskLost {
                    let settings = settings
                    return [.tasksLost { settings.failure(frame: rest, taskIndex: $0) }]
                }
                if code == .clusterLost || code == .bridgeFailed { bridge.broken.store(true, ordering: .relaxed) }
                return [.lost(settings.failure(frame: rest))]
            }
        }

        /// The relayed `results` frames as events; nil when they are malformed.
        func results(_ bytes: [UInt8]) -> [RemoteEvent]? {
            guard let batches = try? FrameChannel.frames(in: bytes).map({ try ResultBatch.parse(frameBody: $0.body) }) else {
                return nil
            }
            return batches.map { results in
                .results(indices: results.indices, errors: results.decodedErrors(), outputs: results.outputs, timing: results.timing)
            }
        }

        func malformed() -> RemoteEvent {
            .lost(settings.failure(.bridgeFailed, "a result from the \(settings.backendName) bridge is malformed"))
        }

        mutating func flushFinished() {
            for index in finished.indices { finished[index].finish() }
            finished.removeAll()
        }

        /// Tells the bridge the results of these submissions are no longer wanted.
        mutating func cancel(_ ids: [UInt64]) {
            guard !ids.isEmpty else { return }
            var body = [UInt8]()
            for id in ids { withUnsafeBytes(of: id.littleEndian) { body.append(contentsOf: $0) } }
            if (try? bridge.send(BridgeFrame.cancel, body)) == nil { bridge.broken.store(true, ordering: .relaxed) }
        }

        /// The call stopped (an error, a cancellation): cancel the submissions still in flight.
        mutating func abandonAll() {
            cancel(Array(submissions.keys))
            submissions.removeAll()
            finished += batches.values
            batches.removeAll()
        }

        /// The bridge is gone or broken: the call fails with `error`.
        mutating func failAll(_ error: any Error) {
            for state in batches.values { state.batch.failCall(error) }
            submissions.removeAll()
            finished += batches.values
            batches.removeAll()
            // Batches not handed out yet are not: the call has stopped.
            if let batch = call.job.nextBatch() {
                batch.failCall(error)
                finished.append(RemoteBatch(batch, sliceSize: batch.indices.count, slicesInFlight: 1))
            }
        }
    }
}

extension Array where Element == UInt8 {
    /// A little-endian integer at `offset` (which the caller has checked is in bounds).
    fileprivate func loadLittleEndian<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T {
        var value: T = 0
        for byte in 0..<MemoryLayout<T>.size { value |= T(self[offset + byte]) << (8 * byte) }
        return value
    }
}
