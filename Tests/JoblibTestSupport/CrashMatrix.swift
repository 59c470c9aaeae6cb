import Foundation
import JoblibParallel
import JoblibSystem
import Testing

/// Every way a task can fail (loky's crash matrix), through every entry point, written once and
/// run against each backend: the culprit alone fails, with the right error and index; no
/// innocent task fails; the next call works. Kinds that end a process run only on backends whose
/// tasks run elsewhere (``BackendConformance/Capabilities/runsElsewhere``); stages that encode or
/// decode only where tasks cross a process boundary.
///
/// ```swift
/// @Test(arguments: CrashCase.all(for: .processes))
/// func crashes(_ check: CrashCase) async throws {
///     try await CrashMatrix(backend: .processes, capabilities: .processes).run(check)
/// }
/// ```
public struct CrashMatrix: Sendable {
    public var backend: Backend
    public var capabilities: BackendConformance.Capabilities
    /// Counts workers started so far (a process pool's), to check that one death costs at most
    /// one replacement; nil where nothing is started.
    public var workersStarted: (@Sendable () -> Int)?
    /// Runs after each case, once the next call worked (checks that nothing is left running).
    public var afterEach: (@Sendable (String) throws -> Void)?

    /// Tasks 0..<8 in batches of 4 on 2 workers; task 2 fails (its batch mates 0, 1, 3 are innocent).
    public static let culprit = 2

    public init(
        backend: Backend, capabilities: BackendConformance.Capabilities, workersStarted: (@Sendable () -> Int)? = nil,
        afterEach: (@Sendable (String) throws -> Void)? = nil
    ) {
        self.backend = backend
        self.capabilities = capabilities
        self.workersStarted = workersStarted
        self.afterEach = afterEach
    }

    var parallel: Parallel { Parallel(jobs: 2, backend: backend, batchSize: .fixed(4)) }

    func tasks(_ stage: CrashStage, _ kind: CrashKind) -> [CrashingTask] {
        (0..<8).map { CrashingTask(index: $0, stage: stage, kind: kind, fails: $0 == Self.culprit) }
    }

    /// Runs one case.
    public func run(_ check: CrashCase) async throws {
        let context = check.testDescription
        _ = try await blockingOrAsync(check.style) { try parallel.run((0..<4).map { CrashingTask(index: $0, stage: .running, kind: .throwError, fails: false) }) }
        let startedBefore = workersStarted?()
        switch check.entry {
        case .results:
            let outcomes = await results(check.style, tasks(check.stage, check.kind))
            for (index, outcome) in outcomes.enumerated() where index != Self.culprit {
                #expect((try? outcome.get()) == CrashingOutput(value: index, failsToEncode: nil), "\(context): innocent task \(index): \(outcome)")
            }
            guard case .failure(let error) = outcomes[Self.culprit] else {
                Issue.record("\(context): task \(Self.culprit) did not fail")
                return
            }
            expectCulpritError(error, check)
            // One death, one replacement (none for a thrown error).
            if let workersStarted, let startedBefore {
                #expect(workersStarted() - startedBefore <= (check.kind == .throwError ? 0 : 1), "\(context)")
            }
        case .run:
            do {
                _ = try await blockingOrAsync(check.style) { try parallel.run(tasks(check.stage, check.kind)) } asynchronously: {
                    try await parallel.run(tasks(check.stage, check.kind))
                }
                Issue.record("\(context): the call did not fail")
            } catch {
                expectCulpritError(error, check)
            }
        case .stream:
            var seen: [Int] = []
            do {
                for try await (index, output) in parallel.stream(tasks(check.stage, check.kind), order: .completion) {
                    #expect(output.value == index)
                    seen.append(index)
                }
                Issue.record("\(context): the stream did not fail")
            } catch {
                expectCulpritError(error, check)
            }
            #expect(!seen.contains(Self.culprit), "\(context)")
        }
        // The next call works.
        let next = try blocking { try parallel.run((0..<6).map { CrashingTask(index: $0, stage: .running, kind: .throwError, fails: false) }) }
        #expect(next.map(\.value) == Array(0..<6), "\(context)")
        try afterEach?(context)
    }

    /// A thrown error arrives as itself (or, met while coding, as `RemoteTaskError` with its
    /// stage); a death as `workerDied` with the status and the stage in its one- or two-line
    /// description.
    func expectCulpritError(_ error: any Error, _ check: CrashCase) {
        let context = "\(check.testDescription): \(error)"
        let culprit = Self.culprit
        if check.kind == .throwError {
            if check.stage == .running {
                #expect(error as? CrashMatrixError == CrashMatrixError(reason: "running task \(culprit)"), "\(context)")
            } else {
                let remote = error as? RemoteTaskError
                #expect(remote?.taskIndex == culprit, "\(context)")
                #expect(remote?.stage == (check.stage == .decodingTask ? .decodingTask : .encodingResult), "\(context)")
            }
            return
        }
        guard let error = error as? ParallelError else {
            Issue.record("not a ParallelError: \(context)")
            return
        }
        #expect(error.code == .workerDied, "\(context)")
        #expect(error.taskIndex == culprit, "\(context)")
        switch check.kind {
        case .exit0: #expect(error.exitStatus == .exited(0), "\(context)")
        case .exit1: #expect(error.exitStatus == .exited(1), "\(context)")
        case .segfault: #expect(error.exitStatus == .signaled(SIGSEGV), "\(context)")
        case .sigkill: #expect(error.exitStatus == .signaled(SIGKILL), "\(context)")
        case .trap:
            #expect(error.exitStatus == .signaled(SIGILL) || error.exitStatus == .signaled(SIGTRAP), "\(context)")
            #expect(error.message.contains("Swift runtime trap"), "\(context)")
            #expect(error.message.contains("Fatal error: crash matrix"), "\(context)")
            #expect(error.stderrTail?.contains("Fatal error: crash matrix") == true, "\(context)")
        case .throwError: break
        }
        let words: [CrashStage: String] = [
            .decodingTask: "while decoding it", .running: "while running it", .encodingResult: "while encoding its result",
        ]
        if capabilities.contains(.namesTheCrashStage) { #expect(error.message.contains(words[check.stage]!), "\(context)") }
        #expect(error.description.split(separator: "\n").count <= 2, "\(context)")
    }

    func results(_ style: CallStyle, _ tasks: [CrashingTask]) async -> [Result<CrashingOutput, any Error>] {
        switch style {
        case .blocking: return blocking { parallel.results(tasks) }
        case .async: return await parallel.results(tasks)
        }
    }

    func blockingOrAsync<T>(
        _ style: CallStyle, _ body: () throws -> T, asynchronously: (() async throws -> T)? = nil
    ) async throws -> T {
        if style == .async, let asynchronously { return try await asynchronously() }
        return try body()
    }
}

/// How a crash case reaches the outcomes.
public enum CrashEntry: String, CaseIterable, Sendable {
    /// `results`: every outcome, the culprit's an error.
    case results
    /// `run`: the culprit's error is thrown.
    case run
    /// `stream(order: .completion)` (async only): the culprit's error ends the stream.
    case stream
}

/// One case of the ``CrashMatrix``: a stage, a kind, an entry point and a call style.
public struct CrashCase: Sendable, CustomTestStringConvertible {
    public var stage: CrashStage
    public var kind: CrashKind
    public var entry: CrashEntry
    public var style: CallStyle

    public var testDescription: String { "\(kind.rawValue) while \(stage.rawValue), \(entry.rawValue) (\(style.rawValue))" }

    /// The cases that apply to a backend: on backends that run tasks in this process, only a
    /// thrown error while running (nothing is encoded, and the other kinds end the process).
    public static func all(for capabilities: BackendConformance.Capabilities) -> [CrashCase] {
        let elsewhere = capabilities.contains(.runsElsewhere)
        let stages = elsewhere ? CrashStage.allCases : [.running]
        let kinds = elsewhere ? CrashKind.allCases : [.throwError]
        return stages.flatMap { stage in
            kinds.flatMap { kind in
                CrashEntry.allCases.flatMap { entry in
                    CallStyle.allCases.compactMap { style in
                        entry == .stream && style == .blocking ? nil : CrashCase(stage: stage, kind: kind, entry: entry, style: style)
                    }
                }
            }
        }
    }
}
