import Foundation
import JoblibParallel
import Synchronization
import Testing

/// The behaviour every backend promises (ARCHITECTURE.md, "A parallel call"), written once and run against each
/// backend, blocking and `async`, by a small test file in each module's test target:
///
/// ```swift
/// @Test(arguments: ConformanceCase.all)
/// func conforms(_ check: ConformanceCase) async throws {
///     try await BackendConformance(backend: .threads, capabilities: .inProcess).run(check)
/// }
/// ```
public struct BackendConformance: Sendable {
    /// What a backend can do beyond the common contract; checks adapt their expectations.
    public struct Capabilities: OptionSet, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        /// Closures run (`map`); otherwise they are rejected with `unsupportedTask`.
        public static let runsClosures = Capabilities(rawValue: 1)
        /// More than one task runs at a time.
        public static let runsInParallel = Capabilities(rawValue: 2)
        /// A task over the timeout fails the call at once (sequential waits for it to return).
        public static let stopsOverrunningTasks = Capabilities(rawValue: 4)
        /// Tasks run in another process: a crashed task can be retried, coding time is measured.
        public static let runsElsewhere = Capabilities(rawValue: 8)
        /// An idle worker takes the unstarted tasks of a busy worker's batch.
        public static let splitsBusyBatches = Capabilities(rawValue: 16)
        /// A failure stops the other batches running: between two of their tasks in this
        /// process; in worker processes the worker running them is killed. (On a cluster a
        /// batch's outcomes come back when it ends, so a failure is seen too late.)
        public static let stopsRunningBatches = Capabilities(rawValue: 32)
        /// The report's running time is measured where tasks run (a worker elsewhere sends its
        /// own decoding, running and encoding time with the outcomes).
        public static let measuresRunningTime = Capabilities(rawValue: 64)
        /// A worker's death names the stage it died in (decoding the task, running it, encoding
        /// its result), not only the task.
        public static let namesTheCrashStage = Capabilities(rawValue: 128)

        /// `.sequential`.
        public static let sequential: Capabilities = [.runsClosures, .stopsRunningBatches, .measuresRunningTime]
        /// `.threads`.
        public static let threads: Capabilities = [
            .runsClosures, .runsInParallel, .stopsOverrunningTasks, .splitsBusyBatches, .stopsRunningBatches,
            .measuresRunningTime,
        ]
        /// `.processes`.
        public static let processes: Capabilities = [
            .runsInParallel, .stopsOverrunningTasks, .runsElsewhere, .stopsRunningBatches, .splitsBusyBatches,
            .measuresRunningTime, .namesTheCrashStage,
        ]
        /// A cluster backend (`.dask`, `.ray`). Both add ``splitsBusyBatches`` (their call splits
        /// a batch's unsent tail for an idle cluster thread: `BridgeCall`).
        public static let cluster: Capabilities = [.runsInParallel, .stopsOverrunningTasks, .runsElsewhere, .measuresRunningTime]
    }

    public var backend: Backend
    public var capabilities: Capabilities
    public var jobs = 2

    public init(backend: Backend, capabilities: Capabilities) {
        self.backend = backend
        self.capabilities = capabilities
    }

    /// Runs one check in one call style.
    public func run(_ check: ConformanceCase) async throws {
        switch check.check {
        case .inputOrder: try await inputOrder(check.style)
        case .completionOrder: try await completionOrder(check.style)
        case .errorsKeepTheirType: try await errorsKeepTheirType(check.style)
        case .failFast: try await failFast(check.style)
        case .failureStopsOtherBatches: try await failureStopsOtherBatches(check.style)
        case .cancellation: try await cancellation(check.style)
        case .timeout: try await timeout(check.style)
        case .retries: try await retries(check.style)
        case .progress: try await progress(check.style)
        case .lazyInput: try await lazyInput(check.style)
        case .endlessInput: try await endlessInput(check.style)
        case .report: try await report(check.style)
        case .closures: try await closures(check.style)
        case .largeBatches: try await largeBatches(check.style)
        }
    }

    func parallel(
        jobs: Int? = nil, batchSize: BatchSize? = nil, timeout: Duration? = nil, progress: ParallelProgressHandler? = nil,
        retries: Int? = nil, report: ParallelReportHandler? = nil
    ) -> Parallel {
        Parallel(
            jobs: WorkerCount(jobs ?? self.jobs), backend: backend, batchSize: batchSize, timeout: timeout,
            progress: progress, retries: retries, report: report)
    }
}

/// How a check calls the API.
public enum CallStyle: String, CaseIterable, Sendable {
    /// `try parallel.run(tasks)`.
    case blocking
    /// `try await parallel.run(tasks)` (and `stream`).
    case async
}

/// One check of ``BackendConformance``.
public enum ConformanceCheck: String, CaseIterable, Sendable {
    case inputOrder, completionOrder, errorsKeepTheirType, failFast, failureStopsOtherBatches, cancellation, timeout, retries
    case progress
    case lazyInput, endlessInput, report, closures, largeBatches
}

/// A check in a call style: the argument of each backend's conformance test.
public struct ConformanceCase: Sendable, CustomTestStringConvertible {
    public var check: ConformanceCheck
    public var style: CallStyle
    public var testDescription: String { "\(check.rawValue) (\(style.rawValue))" }

    /// Every check in both styles.
    public static var all: [ConformanceCase] {
        ConformanceCheck.allCases.flatMap { check in CallStyle.allCases.map { ConformanceCase(check: check, style: $0) } }
    }
}

// MARK: - Helpers

/// Calls the blocking form from an async context (overload resolution would pick the async one).
func blocking<T>(_ body: () throws -> T) rethrows -> T { try body() }

extension BackendConformance {
    func run<Task: ParallelTask>(_ parallel: Parallel, _ tasks: some Sequence<Task>, _ style: CallStyle) async throws -> [Task.Output] {
        switch style {
        case .blocking: return try blocking { try parallel.run(tasks) }
        case .async: return try await parallel.run(tasks)
        }
    }

    func results<Task: ParallelTask>(
        _ parallel: Parallel, _ tasks: some Sequence<Task>, _ style: CallStyle
    ) async -> [Result<Task.Output, any Error>] {
        switch style {
        case .blocking: return blocking { parallel.results(tasks) }
        case .async: return await parallel.results(tasks)
        }
    }

    /// A `run` in a task of its own (to be cancelled).
    func runInTask<Task: ParallelTask>(
        _ parallel: Parallel, _ tasks: [Task], _ style: CallStyle
    ) -> _Concurrency.Task<[Task.Output], any Error> {
        switch style {
        case .blocking: return _Concurrency.Task { try blocking { try parallel.run(tasks) } }
        case .async: return _Concurrency.Task { try await parallel.run(tasks) }
        }
    }
}

/// A fresh directory for files left by tasks; removed after `body`.
func withScratchDirectory<R>(_ body: (String) async throws -> R) async throws -> R {
    let path = NSTemporaryDirectory() + "joblib-conformance-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

func fileCount(_ directory: String) -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: directory).count) ?? 0
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

/// Tracks how many bodies run at once.
final class Gauge: Sendable {
    private let state = Mutex<(now: Int, peak: Int)>((0, 0))
    func enter() { state.withLock { $0.now += 1; $0.peak = max($0.peak, $0.now) } }
    func leave() { state.withLock { $0.now -= 1 } }
    var peak: Int { state.withLock { $0.peak } }
}
