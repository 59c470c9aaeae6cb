import Foundation

// `joblib-bench --table`: the figures of a run as one table beside Python joblib, measured in
// the same run, and the performance targets of the project (BENCHMARKS.md, "Targets").
// Each row names the figures it reads. A row whose workload was not selected is left out; one
// whose workload failed, or whose joblib side could not run, says why.

/// Where the joblib figure of a row comes from: a metric of the same workload, measured in this run.
enum JoblibFigure {
    case measured(String)
}

/// What a row must reach.
enum Target {
    /// Ours at least this many times better than joblib.
    case timesBetter(Double)
    /// Ours at most this value (in the row's unit).
    case atMost(Double)
    /// Ours at least this value (in the row's unit).
    case atLeast(Double)
    /// None: a figure shown beside the one that is judged.
    case shownOnly

    var text: String {
        switch self {
        case .timesBetter(let ratio): "≥ \(number(ratio))× joblib"
        case .atMost(let value): "≤ \(number(value))"
        case .atLeast(let value): "≥ \(number(value))"
        case .shownOnly: "none"
        }
    }
}

struct TableRow {
    var title: String
    var workload: String
    var ours: String
    var joblib: JoblibFigure?
    var unit: String
    /// For rates and speedups; times and sizes are better lower.
    var higherIsBetter: Bool
    var target: Target
}

let tableRows: [TableRow] = [
    TableRow(title: "per-task overhead, 20k tiny tasks, processes", workload: "processes-overhead", ours: "swift-joblib",
             joblib: .measured("joblib"), unit: "µs/task", higherIsBetter: false, target: .timesBetter(10)),
    TableRow(title: "per-task overhead, 20k tiny FixedLayoutTasks, processes", workload: "processes-overhead-fixed", ours: "swift-joblib",
             joblib: .measured("joblib"), unit: "µs/task", higherIsBetter: false, target: .timesBetter(10)),
    TableRow(title: "per-task overhead, 20k tiny tasks, threads", workload: "parallel-overhead", ours: "threads_jobs2",
             joblib: .measured("joblib"), unit: "µs/task", higherIsBetter: false, target: .timesBetter(50)),
    TableRow(title: "warm call with 2 tiny tasks, threads", workload: "parallel-warm-call", ours: "threads_jobs2",
             joblib: .measured("joblib"), unit: "ms", higherIsBetter: false, target: .timesBetter(50)),
    TableRow(title: "warm call with 2 tiny tasks, processes", workload: "processes-warm-call", ours: "swift-joblib",
             joblib: .measured("joblib"), unit: "ms", higherIsBetter: false, target: .timesBetter(50)),
    TableRow(title: "cold pool start, first call, 2 workers", workload: "processes-cold-start", ours: "swift-joblib",
             joblib: .measured("joblib"), unit: "ms", higherIsBetter: false, target: .timesBetter(20)),
    TableRow(title: "speedup, 100 tasks × 20 ms, threads (joblib: threading, GIL-bound)", workload: "parallel-cpu",
             ours: "threads_speedup", joblib: .measured("joblib"), unit: "×", higherIsBetter: true, target: .atLeast(1.9)),
    TableRow(title: "speedup, 100 tasks × 20 ms, processes", workload: "processes-cpu", ours: "swift-joblib",
             joblib: .measured("joblib"), unit: "×", higherIsBetter: true, target: .atLeast(1.9)),
    TableRow(title: "100 MB argument ([Double]) to 20 tasks, processes (first call of that size)", workload: "processes-large-argument", ours: "swift-joblib",
             joblib: .measured("joblib"), unit: "s", higherIsBetter: false, target: .timesBetter(1)),
    TableRow(title: "same, the same array again (workers reuse the last call's storage)", workload: "processes-large-argument",
             ours: "swift-joblib-repeated", joblib: .measured("joblib"), unit: "s", higherIsBetter: false, target: .timesBetter(1)),
    TableRow(title: "100 MB argument (NDArray, mapped in workers) to 20 tasks, processes", workload: "processes-large-ndarray",
             ours: "swift-joblib", joblib: .measured("joblib"), unit: "s", higherIsBetter: false, target: .timesBetter(3)),
    TableRow(title: "peak memory of the process tree for that NDArray (sum of PSS, sampled)", workload: "processes-large-ndarray",
             ours: "tree-peak-pss", joblib: nil, unit: "× the array", higherIsBetter: false, target: .atMost(1.3)),
    TableRow(title: "same, as the sum of each process's peak RSS (shared pages counted per process)", workload: "processes-large-ndarray",
             ours: "tree-peak-rss", joblib: nil, unit: "× the array", higherIsBetter: false, target: .shownOnly),
    TableRow(title: "100 MB NDArray(sharedShape:) argument to 20 tasks, processes", workload: "processes-large-shared-ndarray",
             ours: "swift-joblib", joblib: .measured("joblib"), unit: "s", higherIsBetter: false, target: .timesBetter(3)),
    TableRow(title: "peak memory of the process tree for that shared NDArray (sum of PSS, sampled)", workload: "processes-large-shared-ndarray",
             ours: "tree-peak-pss", joblib: nil, unit: "× the array", higherIsBetter: false, target: .atMost(1.3)),
    TableRow(title: "same, as the sum of each process's peak RSS (shared pages counted per process)", workload: "processes-large-shared-ndarray",
             ours: "tree-peak-rss", joblib: nil, unit: "× the array", higherIsBetter: false, target: .shownOnly),
    TableRow(title: "4 tasks each return a 100 MB [Double], processes", workload: "processes-large-result", ours: "swift-joblib",
             joblib: .measured("joblib"), unit: "s", higherIsBetter: false, target: .timesBetter(1)),
    TableRow(title: "4 tasks each return a 100 MB NDArray, processes", workload: "processes-large-ndarray-result",
             ours: "swift-joblib", joblib: .measured("joblib"), unit: "s", higherIsBetter: false, target: .timesBetter(3)),
    TableRow(title: "4 tasks each return a 100 MB NDArray(sharedShape:), processes", workload: "processes-large-shared-ndarray-result",
             ours: "swift-joblib", joblib: .measured("joblib"), unit: "s", higherIsBetter: false, target: .timesBetter(3)),
    TableRow(title: "next call after a worker crash", workload: "processes-after-crash", ours: "swift-joblib",
             joblib: .measured("joblib"), unit: "ms", higherIsBetter: false, target: .atMost(20)),
    TableRow(title: "cache hit, small argument", workload: "memory-small", ours: "hit",
             joblib: .measured("joblib-hit"), unit: "µs", higherIsBetter: false, target: .timesBetter(25)),
    TableRow(title: "cache hit, 100 MB array argument", workload: "memory-array", ours: "hit-100MB",
             joblib: .measured("joblib-hit-100MB"), unit: "ms", higherIsBetter: false, target: .timesBetter(10)),
    TableRow(title: "reduceSize over 5,000 entries", workload: "memory-reduce", ours: "noop-5000",
             joblib: .measured("joblib-noop-5000"), unit: "ms", higherIsBetter: false, target: .timesBetter(15)),
    TableRow(title: "reduceSize over 5,000 entries, first scan of a new Memory", workload: "memory-reduce", ours: "noop-5000-first-scan",
             joblib: .measured("joblib-noop-5000"), unit: "ms", higherIsBetter: false, target: .timesBetter(15)),
    TableRow(title: "hash of a 1 GiB array", workload: "hash-1gb", ours: "hash",
             joblib: .measured("joblib"), unit: "GB/s", higherIsBetter: true, target: .atLeast(8)),
    TableRow(title: "hash of 1M small integers", workload: "hash-small-ints", ours: "time",
             joblib: .measured("joblib"), unit: "ms", higherIsBetter: false, target: .timesBetter(100)),
    TableRow(title: "dump 1 GB raw (warm)", workload: "persist", ours: "swift.raw.dump",
             joblib: .measured("joblib.raw.dump"), unit: "GB/s", higherIsBetter: true, target: .timesBetter(1)),
    TableRow(title: "load 1 GB raw (warm)", workload: "persist", ours: "swift.raw.load",
             joblib: .measured("joblib.raw.load"), unit: "GB/s", higherIsBetter: true, target: .timesBetter(1)),
    TableRow(title: "open 1 GB mapped", workload: "persist", ours: "swift.mmap.open",
             joblib: .measured("joblib.mmap.open"), unit: "ms", higherIsBetter: false, target: .atMost(1)),
    TableRow(title: "compressed dump: our zstd-3 vs joblib zlib-3", workload: "persist", ours: "swift.zstd3.dump",
             joblib: .measured("joblib.zlib3.dump"), unit: "GB/s", higherIsBetter: true, target: .timesBetter(5)),
    TableRow(title: "compressed size: our zstd-3 vs joblib zlib-3", workload: "persist", ours: "swift.zstd3.size",
             joblib: .measured("joblib.zlib3.size"), unit: "%", higherIsBetter: false, target: .timesBetter(1)),
    TableRow(title: "compressed dump, lz4", workload: "persist", ours: "swift.lz4.dump",
             joblib: .measured("joblib.lz4.dump"), unit: "GB/s", higherIsBetter: true, target: .timesBetter(1)),
    TableRow(title: "load a 1 GB float64 array written by Python joblib", workload: "python-load", ours: "swift.load.throughput",
             joblib: .measured("joblib.load.throughput"), unit: "GB/s", higherIsBetter: true, target: .timesBetter(1)),
    TableRow(title: "open that file mapped", workload: "python-load", ours: "swift.mmap.open",
             joblib: .measured("joblib.mmap.open"), unit: "ms", higherIsBetter: false, target: .atMost(1)),
]

/// The table, in Markdown, for the figures of one run.
func benchmarkTable(_ figures: [Figure]) -> String {
    func value(_ workload: String, _ metric: String) -> Double? {
        figures.first { $0.workload == workload && $0.metric == metric }?.value
    }
    var lines = [
        "| workload | joblib | ours | ratio | target |",
        "|---|---|---|---|---|",
    ]
    let failed = failedWorkloads.withLock { $0 }
    let missing = missingComparisons.withLock { $0 }
    for row in tableRows {
        guard let ours = value(row.workload, row.ours) else {
            if let reason = failed[row.workload] {
                lines.append("| \(row.title) | — | not run: \(reason) | — | \(row.target.text): unknown |")
            }
            continue
        }
        var joblibText = "—"
        var theirs: Double?
        switch row.joblib {
        case .measured(let metric):
            theirs = value(row.workload, metric)
            if let theirs {
                joblibText = "\(number(theirs)) \(row.unit)"
            } else {
                joblibText = "— (not run: \(missing[row.workload] ?? "no figure"))"
            }
        case nil:
            break
        }
        // The ratio says how many times better ours is, whichever way the unit points.
        let ratio = theirs.map { row.higherIsBetter ? ours / $0 : $0 / ours }
        let met: Bool? = switch row.target {
        case .timesBetter(let wanted): ratio.map { $0 >= wanted }
        case .atMost(let limit): ours <= limit
        case .atLeast(let floor): ours >= floor
        case .shownOnly: nil
        }
        let verdict = met.map { $0 ? "met" : "**missed**" } ?? (row.target.isShownOnly ? "shown for comparison" : "unknown")
        let unit = row.target.isRatio || row.target.isShownOnly ? "" : " \(row.unit)"
        lines.append(
            "| \(row.title) | \(joblibText) | \(number(ours)) \(row.unit) | \(ratio.map { "\(number($0))×" } ?? "—") | \(row.target.text)\(unit): \(verdict) |")
    }
    return lines.joined(separator: "\n")
}

extension Target {
    var isRatio: Bool { if case .timesBetter = self { true } else { false } }
    var isShownOnly: Bool { if case .shownOnly = self { true } else { false } }
}

/// Three significant digits, without exponent for the sizes seen here.
func number(_ value: Double) -> String {
    let magnitude = abs(value)
    if value == value.rounded() && magnitude < 1e7 { return String(format: "%.0f", value) }
    if magnitude >= 100 { return String(format: "%.0f", value) }
    if magnitude >= 10 { return String(format: "%.1f", value) }
    if magnitude >= 1 { return String(format: "%.2f", value) }
    return String(format: "%.3g", value)
}
