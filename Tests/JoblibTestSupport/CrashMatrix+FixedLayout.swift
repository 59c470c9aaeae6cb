import JoblibCoding
import JoblibParallel
import Testing

// The crash matrix for fixed-layout tasks (FixedLayoutTask): batches cross processes as one block
// of bytes each way, with no user code while they are decoded or encoded, so only `run()` can
// fail. The status words still name each task as it runs: a death blames the culprit alone.

/// A crash-matrix task of fixed layout: it fails at `run()` in the way `kind` says when `fails`,
/// and otherwise returns its index. Its `Codable` conformance throws: a call on worker processes
/// that succeeds proves that the batch travelled as bytes.
public struct FixedLayoutCrashingTask: FixedLayoutTask {
    public var index: Int
    /// A ``CrashKind``, by its position in `allCases` (a public enum is not implicitly bitwise copyable).
    var kindCode: UInt8
    public var fails: Bool

    public init(index: Int, kind: CrashKind, fails: Bool) {
        self.index = index
        self.kindCode = UInt8(CrashKind.allCases.firstIndex(of: kind)!)
        self.fails = fails
    }

    public var kind: CrashKind { CrashKind.allCases[Int(kindCode)] }

    public func run() throws -> Int {
        if fails { try crash(kind, "running task \(index)") }
        return index
    }

    public init(from decoder: any Decoder) throws {
        throw CrashMatrixError(reason: "a fixed-layout task went through init(from:)")
    }

    public func encode(to encoder: any Encoder) throws {
        throw CrashMatrixError(reason: "a fixed-layout task went through encode(to:)")
    }
}

extension CrashCase {
    /// The cases that apply to fixed-layout tasks on a backend: the running stage only.
    public static func fixedLayout(for capabilities: BackendConformance.Capabilities) -> [CrashCase] {
        all(for: capabilities).filter { $0.stage == .running }
    }
}

extension CrashMatrix {
    func fixedLayoutTasks(_ kind: CrashKind) -> [FixedLayoutCrashingTask] {
        (0..<8).map { FixedLayoutCrashingTask(index: $0, kind: kind, fails: $0 == Self.culprit) }
    }

    /// Runs one case (``CrashCase/fixedLayout(for:)``) with ``FixedLayoutCrashingTask``s, in
    /// batches of 4 on 2 workers: the culprit alone fails, the next call works.
    public func runFixedLayout(_ check: CrashCase) async throws {
        let context = "fixed layout: " + check.testDescription
        _ = try blocking { try parallel.run((0..<4).map { FixedLayoutCrashingTask(index: $0, kind: .throwError, fails: false) }) }
        let startedBefore = workersStarted?()
        switch check.entry {
        case .results:
            let outcomes = await results(check.style, fixedLayoutTasks(check.kind))
            for (index, outcome) in outcomes.enumerated() where index != Self.culprit {
                #expect((try? outcome.get()) == index, "\(context): innocent task \(index): \(outcome)")
            }
            guard case .failure(let error) = outcomes[Self.culprit] else {
                Issue.record("\(context): task \(Self.culprit) did not fail")
                return
            }
            expectCulpritError(error, check)
            if let workersStarted, let startedBefore {
                #expect(workersStarted() - startedBefore <= (check.kind == .throwError ? 0 : 1), "\(context)")
            }
        case .run:
            do {
                _ = try await blockingOrAsync(check.style) { try parallel.run(fixedLayoutTasks(check.kind)) } asynchronously: {
                    try await parallel.run(fixedLayoutTasks(check.kind))
                }
                Issue.record("\(context): the call did not fail")
            } catch {
                expectCulpritError(error, check)
            }
        case .stream:
            var seen: [Int] = []
            do {
                for try await (index, output) in parallel.stream(fixedLayoutTasks(check.kind), order: .completion) {
                    #expect(output == index)
                    seen.append(index)
                }
                Issue.record("\(context): the stream did not fail")
            } catch {
                expectCulpritError(error, check)
            }
            #expect(!seen.contains(Self.culprit), "\(context)")
        }
        let next = try blocking { try parallel.run((0..<6).map { FixedLayoutCrashingTask(index: $0, kind: .throwError, fails: false) }) }
        #expect(next == Array(0..<6), "\(context)")
        try afterEach?(context)
    }

    func results(_ style: CallStyle, _ tasks: [FixedLayoutCrashingTask]) async -> [Result<Int, any Error>] {
        switch style {
        case .blocking: return blocking { parallel.results(tasks) }
        case .async: return await parallel.results(tasks)
        }
    }
}
