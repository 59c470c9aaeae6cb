import JoblibCoding
import JoblibSystem
import Synchronization
import Testing
@testable import JoblibParallel

/// The state machine of batches sent elsewhere (``RemoteBatch``), driven by scripted events: no
/// process, no bridge. Each test runs a real call whose backend answers every send from a script.
@Suite(.timeLimit(.minutes(1))) struct RemoteBatchTests {
    /// Tasks 0..<4 in one batch; task 2 dies while running after task 0 reported: task 2 alone
    /// fails, with its stage; task 1 (whose outcome died with the worker) and 3 run again.
    @Test func aDeathBlamesTheTaskItsStatusWordsName() {
        let script = Script { send, indices in
            send == 0 ? [.ok([0]), .died(running: 2)] : [.ok(indices)]
        }
        let outcomes = script.results(count: 4)
        #expect(script.sends == [[0, 1, 2, 3], [1, 3]])
        expectWorkerDied(outcomes[2], index: 2, stage: .running)
        #expect(outcomes.enumerated().filter { $0.offset != 2 }.allSatisfy { (try? $0.element.get()) == $0.offset * 2 })
    }

    /// `retries: 1`: a task that kills its worker twice ran twice, then fails; every transport
    /// counts a re-run the same way (the old Dask loop counted per resubmission).
    @Test func retriesCountReRunsPerTask() {
        let script = Script(retries: 1) { _, indices in
            indices.contains(2) ? [.died(running: 2)] : [.ok(indices)]
        }
        let outcomes = script.results(count: 4)
        #expect(script.sends == [[0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 3]])
        expectWorkerDied(outcomes[2], index: 2, stage: .running)
        #expect((try? outcomes[3].get()) == 6)

        let once = Script(retries: 1) { send, indices in send == 0 ? [.died(running: 1)] : [.ok(indices)] }
        #expect(once.results(count: 4).map { try? $0.get() } == [0, 2, 4, 6])
        #expect(once.sends == [[0, 1, 2, 3], [0, 1, 2, 3]])
    }

    /// A death that names no task (killed from outside) re-runs the unreported tasks once,
    /// blaming none; a second one in a row blames the first unreported task, with no stage. A
    /// task index the words name that was not sent (a stale word) names no task.
    @Test func aDeathNamingNoTaskBlamesNoneOnceThenTheFirst() {
        let innocent = Script { send, indices in send == 0 ? [.ok([0]), .died(running: nil)] : [.ok(indices)] }
        #expect(innocent.results(count: 4).map { try? $0.get() } == [0, 2, 4, 6])
        #expect(innocent.sends == [[0, 1, 2, 3], [1, 2, 3]])

        let twice = Script { send, indices in send < 2 ? [.died(running: send == 0 ? nil : 99)] : [.ok(indices)] }
        let outcomes = twice.results(count: 4)
        #expect(twice.sends == [[0, 1, 2, 3], [0, 1, 2, 3], [1, 2, 3]])
        expectWorkerDied(outcomes[0], index: 0, stage: nil)
        #expect(outcomes.dropFirst().map { try? $0.get() } == [2, 4, 6])
    }

    /// A task past the timeout fails with `timeout` (in `results`, alone); the tasks after it run
    /// again; in `run` the call fails with it.
    @Test func aTimeoutFailsThatTaskAndReRunsTheOthers() throws {
        let script = Script(timeout: .seconds(1)) { send, indices in send == 0 ? [.ok([0]), .timedOut(1)] : [.ok(indices)] }
        let outcomes = script.results(count: 4)
        #expect(script.sends == [[0, 1, 2, 3], [2, 3]])
        let error = outcomes[1].failure as? ParallelError
        #expect(error?.code == .timeout && error?.taskIndex == 1, "\(outcomes[1])")
        #expect([0, 2, 3].map { try? outcomes[$0].get() } == [0, 4, 6])

        let failing = Script(timeout: .seconds(1)) { _, _ in [.timedOut(1)] }
        #expect { try failing.run(count: 4) } throws: { ($0 as? ParallelError)?.code == .timeout }
        #expect(failing.sends == [[0, 1, 2, 3]])
    }

    /// A transport whose answer is complete but lacks outcomes (the old Dask loop then waited
    /// forever): the missing tasks fail, the call ends.
    @Test func anAnswerWithoutSomeOutcomesNeverWaitsForever() {
        let script = Script { _, _ in [.ok([0, 1]), .answered] }
        let outcomes = script.results(count: 4)
        #expect(outcomes.prefix(2).map { try? $0.get() } == [0, 2])
        for index in 2..<4 {
            let error = outcomes[index].failure as? RemoteTaskError
            #expect(error?.taskIndex == index && error?.typeName == "JoblibParallel.MissingOutcome", "\(outcomes[index])")
        }
    }

    /// A transport that gave up on the tasks sent fails each of them with its own error; the
    /// call goes on.
    @Test func lostTasksFailAlone() {
        let script = Script { _, _ in [.ok([0, 1]), .tasksLost] }
        let outcomes = script.results(count: 6)
        #expect(script.sends == [[0, 1, 2, 3, 4, 5]])
        #expect([0, 1].map { try? outcomes[$0].get() } == [0, 2])
        #expect((2..<6).map { outcomes[$0].failure as? ScriptError } == (2..<6).map { ScriptError(index: $0) })
    }

    /// Fail-fast: the first error fails `run`, and the tasks still sent are abandoned (the driver
    /// is told to stop them); nothing more is sent.
    @Test func anErrorStopsTheBatchInAFailFastCall() {
        let script = Script { _, indices in [.failing(indices, at: 1)] }
        #expect(throws: ScriptError(index: 1)) { try script.run(count: 4) }
        #expect(script.sends == [[0, 1, 2, 3]])
        #expect(script.steps.contains("abandon"))
        // In `results` the error is that task's entry; the others complete.
        let kept = Script { _, indices in [.failing(indices, at: 1)] }
        let outcomes = kept.results(count: 4)
        #expect(outcomes[1].failure as? ScriptError == ScriptError(index: 1))
        #expect([0, 2, 3].map { try? outcomes[$0].get() } == [0, 4, 6])
    }

    /// A task that cannot be encoded fails alone, before anything is sent.
    @Test func anUnencodableTaskFailsAloneBeforeSending() {
        let script = Script { _, indices in [.ok(indices)] }
        let outcomes = script.results(count: 4, unencodable: 2)
        #expect(script.sends == [[0, 1, 3]])
        #expect(outcomes[2].failure is ScriptError, "\(outcomes[2])")
        #expect([0, 1, 3].map { try? outcomes[$0].get() } == [0, 2, 6])
    }

    /// A lost transport fails the call; outcomes for tasks that were not sent break the protocol
    /// and fail it too.
    @Test func aLostTransportOrAStrayOutcomeFailsTheCall() {
        let lost = Script { _, _ in [.lost] }
        #expect(throws: ScriptError(index: -1)) { try lost.run(count: 4) }
        let stray = Script { _, _ in [.ok([3])] }
        #expect { try stray.run(count: 4) } throws: { ($0 as? ParallelError)?.code == .workerDied }
    }

    /// Slices: the batch goes out `sliceSize` tasks at a time, two slices in flight (the next
    /// one is sent before the first one's outcomes); a death blames within what was sent, and
    /// the tasks sent after the culprit run again. Slices of one task go out one at a time.
    @Test func slicesGoOutTwoAtATime() {
        let script = Script(sliceSize: 2) { send, indices in send == 1 ? [.died(running: 3)] : [.ok(indices)] }
        let outcomes = script.results(count: 6)
        #expect(script.sends == [[0, 1], [2, 3], [4, 5], [2, 4, 5]])
        #expect(script.steps.prefix(3) == ["send", "send", "event"])
        expectWorkerDied(outcomes[3], index: 3, stage: .running)
        #expect([0, 1, 2, 4, 5].map { try? outcomes[$0].get() } == [0, 2, 4, 8, 10])

        let single = Script(sliceSize: 1) { _, indices in [.ok(indices)] }
        #expect(single.results(count: 3).map { try? $0.get() } == [0, 2, 4])
        #expect(single.sends == [[0], [1], [2]])
        #expect(single.steps == ["send", "event", "send", "event", "send", "event", "done"])
    }

    /// By default a batch goes out in eighths (at least one task per slice).
    @Test func theDefaultSliceIsAnEighth() {
        let script = Script(sliceSize: nil) { _, indices in [.ok(indices)] }
        #expect(script.results(count: 20).map { try? $0.get() } == (0..<20).map { $0 * 2 })
        #expect(script.sends.map(\.count) == [2, 2, 2, 2, 2, 2, 2, 2, 2, 2])
    }

    func expectWorkerDied(_ outcome: Result<Int, any Error>, index: Int, stage: RemoteTaskError.Stage?) {
        let error = outcome.failure as? ParallelError
        #expect(error?.code == .workerDied && error?.taskIndex == index, "\(outcome)")
        #expect(error?.exitStatus == .signaled(9), "\(outcome)")
        let words = stage == .running ? "while running it" : "while"
        #expect(error?.message.contains(words) == (stage != nil), "\(outcome)")
    }
}

/// A task whose encoding fails for one index.
struct ScriptedTask: ParallelTask {
    var index: Int
    var unencodable: Bool
    func run() -> Int { index * 2 }
    func encode(to encoder: any Encoder) throws {
        if unencodable { throw ScriptError(index: index) }
        var container = encoder.singleValueContainer()
        try container.encode(index)
    }
    init(index: Int, unencodable: Bool) {
        self.index = index
        self.unencodable = unencodable
    }
    init(from decoder: any Decoder) throws {
        index = try decoder.singleValueContainer().decode(Int.self)
        unencodable = false
    }
}

struct ScriptError: Error, Equatable, Codable {
    var index: Int
}

/// One scripted event (built into a ``RemoteEvent`` when it is fed).
enum ScriptedEvent {
    case ok([Int])
    /// Outcomes of `indices` where the task at `at` failed with ``ScriptError``.
    case failing([Int], at: Int)
    case died(running: Int?)
    case timedOut(Int)
    case answered
    case tasksLost
    case lost

    var event: RemoteEvent {
        switch self {
        case .ok(let indices):
            return .results(indices: indices, errors: [:], outputs: Self.encoded(indices), timing: nil)
        case .failing(let indices, let failing):
            let position = indices.firstIndex(of: failing)!
            return .results(
                indices: indices, errors: [position: ScriptError(index: failing)],
                outputs: Self.encoded(indices.filter { $0 != failing }), timing: nil)
        case .died(let running):
            return .died(status: .signaled(9), runningTask: running, stage: .running, stderrTail: "")
        case .timedOut(let index): return .timedOut(index)
        case .answered: return .answered
        case .tasksLost: return .tasksLost { ScriptError(index: $0) }
        case .lost: return .lost(ScriptError(index: -1))
        }
    }

    static func encoded(_ indices: [Int]) -> [UInt8] { try! BinaryEncoder().encode(indices.map { $0 * 2 }) }
}

/// A call on a backend that runs every batch through ``RemoteBatch`` and answers each send with
/// the script's events: `respond(send number, indices sent)` (by default a batch is one slice).
final class Script: Sendable {
    let respond: @Sendable (Int, [Int]) -> [ScriptedEvent]
    let retries: Int
    let timeout: Duration?
    let sliceSize: Int?
    private let log = Mutex<(sends: [[Int]], steps: [String])>(([], []))

    init(
        retries: Int = 0, timeout: Duration? = nil, sliceSize: Int? = 100,
        _ respond: @escaping @Sendable (Int, [Int]) -> [ScriptedEvent]
    ) {
        self.respond = respond
        self.retries = retries
        self.timeout = timeout
        self.sliceSize = sliceSize
    }

    var sends: [[Int]] { log.withLock { $0.sends } }
    var steps: [String] { log.withLock { $0.steps } }

    var parallel: Parallel {
        Parallel(
            jobs: 1, backend: Backend(name: "scripted") { ScriptedBackend(script: self) }, batchSize: .fixed(100),
            timeout: timeout, retries: retries)
    }

    func tasks(_ count: Int, unencodable: Int?) -> [ScriptedTask] {
        (0..<count).map { ScriptedTask(index: $0, unencodable: $0 == unencodable) }
    }

    func results(count: Int, unencodable: Int? = nil) -> [Result<Int, any Error>] {
        parallel.results(tasks(count, unencodable: unencodable))
    }

    func run(count: Int) throws -> [Int] { try parallel.run(tasks(count, unencodable: nil)) }

    /// Drives one batch to its end; a `.wait` with no event left is a batch that would wait forever.
    func drive(_ batch: ParallelBatch) {
        var state = RemoteBatch(batch, sliceSize: sliceSize)
        var step = state.start()
        var queue: [ScriptedEvent] = []
        while true {
            switch step {
            case .send(let indices, let tasks):
                let decoded = try? BinaryDecoder().decode([ScriptedTask].self, from: tasks)
                #expect(decoded?.map(\.index) == indices)
                let number = log.withLock { log in
                    log.sends.append(indices)
                    log.steps.append("send")
                    return log.sends.count - 1
                }
                guard number < 20 else {
                    Issue.record("more than 20 sends: \(sends)")
                    state.finish()
                    return
                }
                queue += respond(number, indices)
                step = state.sentSlice()
            case .wait:
                guard !queue.isEmpty else {
                    Issue.record("the batch waits with no event to come: it would wait forever")
                    state.finish()
                    return
                }
                let event = queue.removeFirst()
                log.withLock { $0.steps.append("event") }
                // A worker that ended sends nothing more.
                switch event {
                case .died, .timedOut, .lost, .tasksLost: queue.removeAll()
                default: break
                }
                step = state.handle(event.event)
            case .abandon, .done:
                log.withLock { $0.steps.append(step == .abandon ? "abandon" : "done") }
                state.finish()
                return
            }
        }
    }
}

struct ScriptedBackend: ParallelBackend {
    let script: Script
    func start(_ job: ParallelJob, workers: Int) throws {
        while let batch = job.nextBatch() { script.drive(batch) }
    }
}

extension Result {
    fileprivate var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
