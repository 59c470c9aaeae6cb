import Foundation
import Joblib

/// Runs Benchmarks/python/memory_bench.py MODE: joblib's figures in this run, or nil (the reason
/// is recorded for the table).
private func joblibFigures(_ workload: String, _ mode: String) -> [String: Double]? {
    guard let output = runComparison(workload, script: "memory_bench.py", [mode]) else { return nil }
    guard let figures = try? JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Double] else {
        recordMissingComparison(workload, "memory_bench.py \(mode) printed no JSON figures")
        return nil
    }
    return figures
}

/// Figures named `metric` in `workload`, when joblib's `key` was measured; with the speedup.
private func joblibFigure(_ workload: String, _ metric: String, _ figures: [String: Double]?, _ key: String,
                          unit: String, ours: Double, speedup: String) -> [Figure] {
    guard let theirs = figures?[key] else { return [] }
    return [
        Figure(workload: workload, metric: metric, value: theirs, unit: unit),
        Figure(workload: workload, metric: speedup, value: theirs / ours, unit: "x"),
    ]
}

/// A fresh cache directory under $TMPDIR (or /tmp), removed after `body`.
private func withCacheDirectory<R>(_ body: (String) throws -> R) throws -> R {
    let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
    let path = "\(base)/joblib-swift-mem-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try body(path)
}

private func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

/// CPU time this thread has used (user and system), in nanoseconds.
private func threadCPUNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

let memoryWorkloads: [Workload] = [
    Workload(name: "memory-small", summary: "Memory miss and hit per call, f(x) = x * 2 over 1,000 keys, vs joblib") {
        var misses: [Double] = []
        var hits: [Double] = []
        // The hits' thread CPU time too: time spent waiting for a core (or for the flusher
        // writing the misses' files back) is in the wall clock only.
        var hitCPU: [Double] = []
        for _ in 0..<3 {
            try withCacheDirectory { path in
                let f = Memory(location: path, verbose: 0).cache(name: "f") { (x: Int) -> Int in x * 2 }
                let t0 = DispatchTime.now().uptimeNanoseconds
                for i in 0..<1_000 { blackHole(try f(i)) }
                let c1 = threadCPUNanoseconds()
                let t1 = DispatchTime.now().uptimeNanoseconds
                for i in 0..<1_000 { blackHole(try f(i)) }
                let t2 = DispatchTime.now().uptimeNanoseconds
                hitCPU.append(Double(threadCPUNanoseconds() - c1) / 1e3 / 1_000)
                misses.append(Double(t1 - t0) / 1e3 / 1_000)
                hits.append(Double(t2 - t1) / 1e3 / 1_000)
            }
        }
        let joblib = joblibFigures("memory-small", "small")
        let miss = median(misses), hit = median(hits)
        return [
            Figure(workload: "memory-small", metric: "miss", value: miss, unit: "us/call"),
            Figure(workload: "memory-small", metric: "hit", value: hit, unit: "us/call"),
            Figure(workload: "memory-small", metric: "hit-cpu", value: median(hitCPU), unit: "us/call"),
        ]
            + joblibFigure("memory-small", "joblib-miss", joblib, "miss_us", unit: "us/call", ours: miss, speedup: "miss-speedup-vs-joblib")
            + joblibFigure("memory-small", "joblib-hit", joblib, "hit_us", unit: "us/call", ours: hit, speedup: "hit-speedup-vs-joblib")
    },
    Workload(name: "memory-hit-loop", summary: "Memory hits only (for profiling): 1,000 keys stored, then 20 rounds of hits over them") {
        // No joblib side: this isolates the hit path so that a profiler sees nothing else. The
        // thread's CPU time per hit is reported too: on a loaded machine it moves far less than
        // the wall clock (time spent waiting for a core is not counted).
        var firstRound = 0.0
        var firstRoundCPU = 0.0
        var rounds: [Double] = []
        var cpuRounds: [Double] = []
        try withCacheDirectory { path in
            let f = Memory(location: path, verbose: 0).cache(name: "f") { (x: Int) -> Int in x * 2 }
            for i in 0..<1_000 { blackHole(try f(i)) }
            for round in 0..<20 {
                let c0 = threadCPUNanoseconds()
                let t0 = DispatchTime.now().uptimeNanoseconds
                for i in 0..<1_000 { blackHole(try f(i)) }
                let elapsed = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e3 / 1_000
                let cpu = Double(threadCPUNanoseconds() - c0) / 1e3 / 1_000
                if round == 0 { (firstRound, firstRoundCPU) = (elapsed, cpu) } else { rounds.append(elapsed); cpuRounds.append(cpu) }
            }
        }
        return [
            Figure(workload: "memory-hit-loop", metric: "first-hit", value: firstRound, unit: "us/call"),
            Figure(workload: "memory-hit-loop", metric: "first-hit-cpu", value: firstRoundCPU, unit: "us/call"),
            Figure(workload: "memory-hit-loop", metric: "steady-hit", value: median(rounds), unit: "us/call"),
            Figure(workload: "memory-hit-loop", metric: "steady-hit-cpu", value: median(cpuRounds), unit: "us/call"),
        ]
    },
    Workload(name: "memory-array", summary: "Memory hit with a 100 MB [Double] argument (hash + lookup), vs joblib") {
        let values = (0..<(100_000_000 / 8)).map { Double($0) * 0.5 }
        var times: [Double] = []
        try withCacheDirectory { path in
            let count = Memory(location: path, verbose: 0).cache(name: "count") { (a: [Double]) -> Int in a.count }
            blackHole(try count(values))
            for _ in 0..<5 {
                let t0 = DispatchTime.now().uptimeNanoseconds
                blackHole(try count(values))
                times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
            }
        }
        let joblib = joblibFigures("memory-array", "array")
        let hit = median(times)
        return [Figure(workload: "memory-array", metric: "hit-100MB", value: hit, unit: "ms")]
            + joblibFigure("memory-array", "joblib-hit-100MB", joblib, "hit_ms", unit: "ms", ours: hit, speedup: "hit-speedup-vs-joblib")
    },
    Workload(name: "memory-reduce", summary: "reduceSize over 5,000 entries (limit above the size: scan only), vs joblib") {
        var scans: [Double] = []
        var coldScans: [Double] = []
        // The thread's CPU time of each scan too: on a loaded machine it moves less than the wall clock.
        var scanCPU: [Double] = []
        var coldScanCPU: [Double] = []
        var halving = 0.0
        var halvingCPU = 0.0
        try withCacheDirectory { path in
            let memory = Memory(location: path, verbose: 0)
            let f = memory.cache(name: "f") { (x: Int) -> Int in x * 2 }
            for i in 0..<5_000 { blackHole(try f(i)) }
            for _ in 0..<3 {
                let c0 = threadCPUNanoseconds()
                let t0 = DispatchTime.now().uptimeNanoseconds
                try memory.reduceSize(bytesLimit: .gigabytes(1000))
                scans.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
                scanCPU.append(Double(threadCPUNanoseconds() - c0) / 1e6)
            }
            // A new Memory has seen no scan of this location: what a fresh process pays.
            for _ in 0..<3 {
                let fresh = Memory(location: path, verbose: 0)
                let c0 = threadCPUNanoseconds()
                let t0 = DispatchTime.now().uptimeNanoseconds
                try fresh.reduceSize(bytesLimit: .gigabytes(1000))
                coldScans.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
                coldScanCPU.append(Double(threadCPUNanoseconds() - c0) / 1e6)
            }
            let c0 = threadCPUNanoseconds()
            let t0 = DispatchTime.now().uptimeNanoseconds
            try memory.reduceSize(itemsLimit: 2_500)
            halving = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
            halvingCPU = Double(threadCPUNanoseconds() - c0) / 1e6
        }
        let joblib = joblibFigures("memory-reduce", "reduce")
        let scan = median(scans), firstScan = median(coldScans)
        var figures = [
            Figure(workload: "memory-reduce", metric: "noop-5000", value: scan, unit: "ms"),
            Figure(workload: "memory-reduce", metric: "noop-5000-first-scan", value: firstScan, unit: "ms"),
            Figure(workload: "memory-reduce", metric: "noop-5000-cpu", value: median(scanCPU), unit: "ms"),
            Figure(workload: "memory-reduce", metric: "noop-5000-first-scan-cpu", value: median(coldScanCPU), unit: "ms"),
            Figure(workload: "memory-reduce", metric: "to-half-5000", value: halving, unit: "ms"),
            Figure(workload: "memory-reduce", metric: "to-half-5000-cpu", value: halvingCPU, unit: "ms"),
        ]
        figures += joblibFigure("memory-reduce", "joblib-noop-5000", joblib, "noop_ms", unit: "ms", ours: scan, speedup: "noop-speedup-vs-joblib")
        if let theirs = joblib?["noop_ms"] {
            figures.append(Figure(workload: "memory-reduce", metric: "first-scan-speedup-vs-joblib", value: theirs / firstScan, unit: "x"))
        }
        return figures
    },
]
