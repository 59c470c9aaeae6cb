import Foundation

/// One figure a workload measured: printed as `WORKLOAD METRIC VALUE UNIT`.
struct Figure: Encodable {
    var workload: String
    var metric: String
    var value: Double
    var unit: String
}

/// A named measurement. `run` returns its figures; ratios against baselines measured in the same
/// run are figures too (unit "x"), because these machines are shared and noisy.
struct Workload: Sendable {
    var name: String
    var summary: String
    var run: @Sendable () throws -> [Figure]
}

/// Wall-clock seconds of `body`, the best of `repetitions` runs (the least disturbed one).
func bestTime(repetitions: Int = 3, _ body: () throws -> Void) rethrows -> Double {
    var best = Double.infinity
    for _ in 0..<repetitions {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        let end = DispatchTime.now().uptimeNanoseconds
        best = min(best, Double(end - start) / 1e9)
    }
    return best
}

/// Keeps a value alive and opaque to the optimiser, so measured work is not removed.
@inline(never) func blackHole<T>(_ value: T) { withExtendedLifetime(value) {} }
