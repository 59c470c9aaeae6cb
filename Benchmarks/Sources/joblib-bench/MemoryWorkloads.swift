import Foundation
import Joblib

/// Runs Benchmarks/python/memory_bench.py MODE and returns its JSON figures (joblib in this run).
private func joblibFigures(_ mode: String) throws -> [String: Double] {
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../python/memory_bench.py").standardized
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", script.path, mode]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0, let figures = try JSONSerialization.jsonObject(with: data) as? [String: Double] else {
        throw CocoaError(.featureUnsupported, userInfo: [NSLocalizedDescriptionKey: "memory_bench.py \(mode) failed (is joblib installed?)"])
    }
    return figures
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

let memoryWorkloads: [Workload] = [
    Workload(name: "memory-small", summary: "Memory miss and hit per call, f(x) = x * 2 over 1,000 keys, vs joblib") {
        var misses: [Double] = []
        var hits: [Double] = []
        for _ in 0..<3 {
            try withCacheDirectory { path in
                let f = Memory(location: path, verbose: 0).cache(name: "f") { (x: Int) -> Int in x * 2 }
                let t0 = DispatchTime.now().uptimeNanoseconds
                for i in 0..<1_000 { blackHole(try f(i)) }
                let t1 = DispatchTime.now().uptimeNanoseconds
                for i in 0..<1_000 { blackHole(try f(i)) }
                let t2 = DispatchTime.now().uptimeNanoseconds
                misses.append(Double(t1 - t0) / 1e3 / 1_000)
                hits.append(Double(t2 - t1) / 1e3 / 1_000)
            }
        }
        let joblib = try joblibFigures("small")
        let miss = median(misses), hit = median(hits)
        return [
            Figure(workload: "memory-small", metric: "miss", value: miss, unit: "us/call"),
            Figure(workload: "memory-small", metric: "hit", value: hit, unit: "us/call"),
            Figure(workload: "memory-small", metric: "joblib-miss", value: joblib["miss_us"]!, unit: "us/call"),
            Figure(workload: "memory-small", metric: "joblib-hit", value: joblib["hit_us"]!, unit: "us/call"),
            Figure(workload: "memory-small", metric: "hit-speedup-vs-joblib", value: joblib["hit_us"]! / hit, unit: "x"),
            Figure(workload: "memory-small", metric: "miss-speedup-vs-joblib", value: joblib["miss_us"]! / miss, unit: "x"),
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
        let joblib = try joblibFigures("array")
        let hit = median(times)
        return [
            Figure(workload: "memory-array", metric: "hit-100MB", value: hit, unit: "ms"),
            Figure(workload: "memory-array", metric: "joblib-hit-100MB", value: joblib["hit_ms"]!, unit: "ms"),
            Figure(workload: "memory-array", metric: "hit-speedup-vs-joblib", value: joblib["hit_ms"]! / hit, unit: "x"),
        ]
    },
    Workload(name: "memory-reduce", summary: "reduceSize over 5,000 entries (limit above the size: scan only), vs joblib") {
        var scans: [Double] = []
        var coldScans: [Double] = []
        var halving = 0.0
        try withCacheDirectory { path in
            let memory = Memory(location: path, verbose: 0)
            let f = memory.cache(name: "f") { (x: Int) -> Int in x * 2 }
            for i in 0..<5_000 { blackHole(try f(i)) }
            for _ in 0..<3 {
                let t0 = DispatchTime.now().uptimeNanoseconds
                try memory.reduceSize(bytesLimit: .gigabytes(1000))
                scans.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
            }
            // A new Memory has seen no scan of this location: what a fresh process pays.
            for _ in 0..<3 {
                let fresh = Memory(location: path, verbose: 0)
                let t0 = DispatchTime.now().uptimeNanoseconds
                try fresh.reduceSize(bytesLimit: .gigabytes(1000))
                coldScans.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
            }
            let t0 = DispatchTime.now().uptimeNanoseconds
            try memory.reduceSize(itemsLimit: 2_500)
            halving = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
        }
        let joblib = try joblibFigures("reduce")
        let scan = median(scans)
        return [
            Figure(workload: "memory-reduce", metric: "noop-5000", value: scan, unit: "ms"),
            Figure(workload: "memory-reduce", metric: "noop-5000-first-scan", value: median(coldScans), unit: "ms"),
            Figure(workload: "memory-reduce", metric: "to-half-5000", value: halving, unit: "ms"),
            Figure(workload: "memory-reduce", metric: "joblib-noop-5000", value: joblib["noop_ms"]!, unit: "ms"),
            Figure(workload: "memory-reduce", metric: "noop-speedup-vs-joblib", value: joblib["noop_ms"]! / scan, unit: "x"),
            Figure(workload: "memory-reduce", metric: "first-scan-speedup-vs-joblib", value: joblib["noop_ms"]! / median(coldScans), unit: "x"),
        ]
    },
]
