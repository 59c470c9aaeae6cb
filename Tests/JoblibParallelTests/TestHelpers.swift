#if canImport(Glibc)
import Glibc
#endif
import Synchronization
@testable import JoblibParallel
import JoblibSystem

struct Boom: Error, Equatable {
    var index: Int
}

/// A thread-safe counter for tasks to bump.
final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    func increment() { value.add(1, ordering: .relaxed) }
    var count: Int { value.load(ordering: .relaxed) }
}

/// Tracks how many tasks run at once.
final class ConcurrencyGauge: Sendable {
    private let state = Mutex<(now: Int, peak: Int)>((0, 0))
    func enter() { state.withLock { $0.now += 1; $0.peak = max($0.peak, $0.now) } }
    func leave() { state.withLock { $0.now -= 1 } }
    var peak: Int { state.withLock { $0.peak } }
}

/// Records progress text instead of writing it.
final class TextRecorder: Sendable {
    private let text = Mutex("")
    var output: ProgressOutput { ProgressOutput(isTerminal: false) { [self] piece in text.withLock { $0 += piece } } }
    var lines: [String] { text.withLock { $0 }.split(separator: "\n").map(String.init) }
}

func sleepMilliseconds(_ milliseconds: Double) { usleep(UInt32(milliseconds * 1000)) }

func seconds(since start: UInt64) -> Double { Double(monotonicNanoseconds() - start) / 1e9 }

struct Square: ParallelTask {
    var value: Int
    func run() throws -> Int {
        if value < 0 { throw Boom(index: value) }
        return value * value
    }
}

extension Parallel {
    /// A `Parallel` that records its progress text.
    init(jobs: WorkerCount? = nil, backend: Backend? = nil, verbose: Int, progressOutput: ProgressOutput) {
        self.init(jobs: jobs, backend: backend, verbose: verbose)
        self.progressOutput = progressOutput
    }
}
