import JoblibCoding
import JoblibParallel
import JoblibProcesses
import JoblibSystem

/// One call on a cluster, driven by one thread: it keeps a few submissions (batches from the job's
/// auto-batching) in flight through a bridge, hands each result back as it arrives and turns every
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

    /// A submission in flight: part of one batch (the rest of a batch is resubmitted after a task
    /// crashed its Swift worker).
    struct Submission {
        let batch: ParallelBatch
        var pending: [Int]
        /// Outcomes of the batch delivered so far, over all its submissions.
        var completed: Int
        var retriesUsed: [Int: Int]
    }

    private static let pollInterval = Duration.milliseconds(50)

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

    /// The state of the driving thread.
    private struct Loop {
        let call: BridgeCall
        let bridge: Bridge
        var inFlight: [UInt64: Submission] = [:]
        /// Batches that are over, reported to the job at the next turn of the loop (or after the
        /// bridge went back to the pool, for the last ones).
        var finished: [(ParallelBatch, Int)] = []
        let limit: Int
        let timeoutSeconds: Double

        init(call: BridgeCall, bridge: Bridge) {
            self.call = call
            self.bridge = bridge
            limit = bridge.settings.inFlightLimit(bridge)
            timeoutSeconds = call.job.taskTimeout.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 } ?? 0
        }

        mutating func run() {
            while true {
                while inFlight.count < limit, let batch = call.job.nextBatch() {
                    submit(Submission(batch: batch, pending: Array(batch.indices), completed: 0, retriesUsed: [:]))
                }
                guard let any = inFlight.first?.value else { return }
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

        /// Encodes the submission's tasks (in one pass) and sends them as one submission.
        mutating func submit(_ submission: Submission) {
            var submission = submission
            var encoded = try? call.remote.encodeBatch(submission.pending, nil)
            if encoded == nil {
                // Find the tasks that cannot be encoded: they fail alone, before anything is sent.
                var encodable: [Int] = []
                for index in submission.pending {
                    do {
                        _ = try call.remote.encode(index, nil)
                        encodable.append(index)
                    } catch {
                        submission.completed += 1
                        guard deliver(index, .failure(error), submission.batch) else { break }
                    }
                }
                submission.pending = encodable
                encoded = try? call.remote.encodeBatch(encodable, nil)
            }
            guard let tasks = encoded, !submission.pending.isEmpty, !submission.batch.callStopped else {
                finish(submission.batch, submission.completed)
                return
            }
            // Unique over the bridge's life, not just this call: the bridge outlives calls, and a
            // reused id would pick up a cancelled call's late result (and Dask would hand back
            // the old future for a reused key; Ray names nothing after it, but the rule costs nothing).
            let id = bridge.nextSubmissionID()
            do {
                let payload = try BinaryEncoder().encode(
                    BatchMessage(typeName: call.typeName, indices: submission.pending, tasks: tasks))
                var body = [UInt8]()
                body.reserveCapacity(20 + payload.count)
                withUnsafeBytes(of: id.littleEndian) { body.append(contentsOf: $0) }
                withUnsafeBytes(of: UInt32(submission.pending.count).littleEndian) { body.append(contentsOf: $0) }
                withUnsafeBytes(of: timeoutSeconds.bitPattern.littleEndian) { body.append(contentsOf: $0) }
                body.append(contentsOf: payload)
                try bridge.send(BridgeFrame.submit, body)
            } catch {
                bridge.broken.store(true, ordering: .relaxed)
                submission.batch.failCall(settings.failure(.bridgeFailed, "could not send a task to the \(settings.backendName) bridge: \(error)"))
                finish(submission.batch, submission.completed)
                return
            }
            inFlight[id] = submission
        }

        mutating func handle(_ kind: UInt8, _ body: [UInt8]) {
            if kind == BridgeFrame.failed {
                bridge.broken.store(true, ordering: .relaxed)
                failAll(settings.failure(frame: body))
                return
            }
            guard kind == BridgeFrame.result, body.count >= 9 else { return }
            let id = body.loadLittleEndian(UInt64.self, at: 0)
            // A result of a task cancelled earlier (this call or a previous one) is ignored.
            guard var submission = inFlight.removeValue(forKey: id) else { return }
            let status = body[8]
            let rest = Array(body[9...])
            switch status {
            case 0:
                deliverFrames(rest, into: &submission)
                finish(submission.batch, submission.completed)
            case 1:
                workerDied(rest, submission)
            default:
                infrastructureFailure(rest, submission)
            }
        }

        /// Delivers the outcomes in the relayed `results` frames; returns how many there were.
        @discardableResult
        mutating func deliverFrames(_ bytes: [UInt8], into submission: inout Submission) -> Int {
            let batches: [ResultBatch]
            do {
                batches = try FrameChannel.frames(in: bytes).map { try ResultBatch.parse(frameBody: $0.body) }
            } catch {
                submission.batch.failCall(settings.failure(.bridgeFailed, "a result from a Swift worker is malformed: \(error)"))
                return 0
            }
            var received = 0
            for results in batches {
                var delivered = 0
                do {
                    try call.remote.deliverBatch(results.indices, results.decodedErrors(), results.outputs, &delivered)
                } catch {
                    submission.completed += delivered + 1
                    submission.batch.failCall(error)
                    return received + delivered + 1
                }
                received += delivered
                submission.completed += delivered
            }
            return received
        }

        /// The Swift worker running the submission died or overran the timeout on the cluster.
        /// Its status words named the task it was running; the tasks before that one finished but
        /// their outcomes died with it, so they run again.
        mutating func workerDied(_ rest: [UInt8], _ submission: Submission) {
            var submission = submission
            guard rest.count >= 4 else { return failMalformed(submission) }
            let framesLength = Int(rest.loadLittleEndian(UInt32.self, at: 0))
            guard rest.count >= 4 + framesLength + 21 else { return failMalformed(submission) }
            let received = deliverFrames(Array(rest[4..<(4 + framesLength)]), into: &submission)
            let info = 4 + framesLength
            let code = Int32(bitPattern: rest.loadLittleEndian(UInt32.self, at: info))
            let signal = Int32(bitPattern: rest.loadLittleEndian(UInt32.self, at: info + 4))
            let timedOut = rest[info + 8] != 0
            let running = rest.loadLittleEndian(UInt64.self, at: info + 13)
            let tail = String(decoding: rest[(info + 21)...], as: UTF8.self)
            guard received < submission.pending.count, !submission.batch.callStopped else {
                finish(submission.batch, submission.completed)
                return
            }
            let unreported = Array(submission.pending[received...])
            let culprit = running > 0 ? unreported.firstIndex(of: Int(running - 1)) : nil
            let position = culprit ?? 0
            let index = unreported[position]
            var remaining = Array(unreported[..<position])
            let after = Array(unreported[(position + 1)...])
            if timedOut {
                let limit = call.job.taskTimeout ?? .zero
                let error = ParallelError(
                    .timeout,
                    "task \(index) ran longer than the timeout of \(limit); its Swift worker on the \(settings.backendName) cluster was "
                        + "killed and will be replaced",
                    taskIndex: index)
                submission.completed += 1
                guard deliver(index, .failure(error), submission.batch) else {
                    finish(submission.batch, submission.completed)
                    return
                }
            } else if submission.retriesUsed[index, default: 0] < call.job.retries {
                submission.retriesUsed[index, default: 0] += 1
                remaining.append(index)
            } else {
                let status: ProcessExitStatus = signal > 0 ? .signaled(signal) : .exited(code)
                submission.completed += 1
                guard deliver(index, .failure(ParallelError.workerDied(taskIndex: index, status: status, stderrTail: tail)), submission.batch) else {
                    finish(submission.batch, submission.completed)
                    return
                }
            }
            remaining += after
            submission.pending = remaining
            if remaining.isEmpty {
                finish(submission.batch, submission.completed)
            } else {
                submit(submission)
            }
        }

        /// The cluster lost the submission, or the cluster or the bridge failed.
        mutating func infrastructureFailure(_ rest: [UInt8], _ submission: Submission) {
            let code = BridgeFailure(rawValue: rest.first ?? BridgeFailure.bridgeFailed.rawValue)
            var submission = submission
            if code == .taskLost {
                // The cluster gave up on this submission alone: its tasks fail, the call goes on
                // (or fails fast).
                for index in submission.pending {
                    submission.completed += 1
                    if !deliver(index, .failure(settings.failure(frame: rest, taskIndex: index)), submission.batch) { break }
                }
            } else {
                if code == .clusterLost || code == .bridgeFailed {
                    bridge.broken.store(true, ordering: .relaxed)
                }
                submission.batch.failCall(settings.failure(frame: rest))
            }
            finish(submission.batch, submission.completed)
        }

        mutating func finish(_ batch: ParallelBatch, _ completed: Int) {
            finished.append((batch, completed))
        }

        mutating func flushFinished() {
            for (batch, completed) in finished { batch.finishRemotely(completed: completed) }
            finished.removeAll()
        }

        mutating func failMalformed(_ submission: Submission) {
            submission.batch.failCall(settings.failure(.bridgeFailed, "a result from the \(settings.backendName) bridge is malformed"))
            finish(submission.batch, submission.completed)
        }

        /// The call stopped (an error, a cancellation): cancel the submissions still in flight.
        mutating func abandonAll() {
            var body = [UInt8]()
            for id in inFlight.keys { withUnsafeBytes(of: id.littleEndian) { body.append(contentsOf: $0) } }
            if (try? bridge.send(BridgeFrame.cancel, body)) == nil { bridge.broken.store(true, ordering: .relaxed) }
            for submission in inFlight.values { finish(submission.batch, submission.completed) }
            inFlight.removeAll()
        }

        /// The bridge is gone or broken: the call fails with `error`.
        mutating func failAll(_ error: any Error) {
            for submission in inFlight.values {
                submission.batch.failCall(error)
                finish(submission.batch, submission.completed)
            }
            inFlight.removeAll()
            // Batches not handed out yet are not: the call has stopped.
            if let batch = call.job.nextBatch() {
                batch.failCall(error)
                finish(batch, 0)
            }
        }

        /// Hands an outcome to the call; false when it failed the call (stop the batch).
        func deliver(_ index: Int, _ outcome: Result<[UInt8], any Error>, _ batch: ParallelBatch) -> Bool {
            do {
                try call.remote.deliver(index, outcome)
                return true
            } catch {
                batch.failCall(error)
                return false
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
