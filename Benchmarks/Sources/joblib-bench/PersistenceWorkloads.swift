import Foundation
import Joblib

// dump / load of a large float64 array, half random and half zeros, beside Python joblib in the
// same run (Benchmarks/python/persist_joblib.py). Size: JOBLIB_BENCH_PERSIST_BYTES (default 1e9).
//   swift run -c release --package-path Benchmarks joblib-bench persist

let persistenceWorkloads: [Workload] = [
    Workload(name: "persist", summary: "dump/load 1 GB float64 (raw, zlib-3, lz4, zstd-3, mapped, durable) vs joblib") {
        try persistFigures()
    },
]

private let persistBytes = Int(ProcessInfo.processInfo.environment["JOBLIB_BENCH_PERSIST_BYTES"] ?? "") ?? 1_000_000_000

/// The median of `repetitions` timings (as the joblib scripts report).
private func medianTime(_ repetitions: Int, _ body: () throws -> Void) rethrows -> Double {
    var times: [Double] = []
    for _ in 0..<repetitions {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return times.sorted()[times.count / 2]
}

/// 1 MB blocks of doubles: even blocks uniform in [0, 1), odd blocks zero (as joblib's b7 scripts).
private func mixedArray(bytes: Int) -> NDArray<Double> {
    let perBlock = 125_000
    let blocks = bytes / 1_000_000
    var generator = SplitMix64(state: 0)
    var elements = [Double](repeating: 0, count: blocks * perBlock)
    for block in stride(from: 0, to: blocks, by: 2) {
        for index in block * perBlock..<(block + 1) * perBlock { elements[index] = Double.random(in: 0..<1, using: &generator) }
    }
    return NDArray(shape: [elements.count], elements)
}

private func persistFigures() throws -> [Figure] {
    var figures: [Figure] = []
    func emit(_ metric: String, _ value: Double, _ unit: String) {
        figures.append(Figure(workload: "persist", metric: metric, value: value, unit: unit))
    }
    let array = mixedArray(bytes: persistBytes)
    let size = Double(array.count * 8)
    let expectedSum = array.reduce(0, +)
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("joblib-bench-persist-\(getpid())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }

    let cases: [(String, Compression, Int)] = [("raw", .none, 3), ("zlib3", .zlib(level: 3), 1), ("lz4", .lz4(level: 0), 3), ("zstd3", .zstd(level: 3), 3)]
    var swift: [String: Double] = [:]
    for (label, compression, repetitions) in cases {
        let path = directory.appendingPathComponent("\(label).joblib").path
        let dumpTime = try medianTime(repetitions) { try dump(array, to: path, compression: compression, durable: false) }
        swift["\(label).dump"] = size / dumpTime / 1e9
        emit("swift.\(label).dump", size / dumpTime / 1e9, "GB/s")
        let fileSize = Double(try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int)
        swift["\(label).size"] = fileSize / size * 100
        emit("swift.\(label).size", fileSize / size * 100, "%")
        let loadTime = try medianTime(repetitions) { blackHole(try load(NDArray<Double>.self, from: path)) }
        swift["\(label).load"] = size / loadTime / 1e9
        emit("swift.\(label).load", size / loadTime / 1e9, "GB/s")
        if label == "raw" {
            let durable = try medianTime(2) { try dump(array, to: path, compression: .none, durable: true) }
            swift["raw.dump_fsync"] = size / durable / 1e9
            emit("swift.raw.dump_fsync", size / durable / 1e9, "GB/s")
            var opens: [Double] = [], sums: [Double] = []
            for _ in 0..<3 {
                let start = DispatchTime.now().uptimeNanoseconds
                let mapped = try load(NDArray<Double>.self, from: path, mapping: .readOnly)
                let opened = DispatchTime.now().uptimeNanoseconds
                let total = mapped.withUnsafeBufferPointer { $0.reduce(0, +) }
                let summed = DispatchTime.now().uptimeNanoseconds
                precondition(abs(total - expectedSum) <= 1e-6 * abs(expectedSum), "mapped sum differs")
                opens.append(Double(opened - start) / 1e6)
                sums.append(Double(summed - opened) / 1e9)
            }
            swift["mmap.open"] = opens.sorted()[1]
            swift["mmap.sum"] = sums.sorted()[1]
            emit("swift.mmap.open", opens.sorted()[1], "ms")
            emit("swift.mmap.sum", sums.sorted()[1], "s")
        }
        try FileManager.default.removeItem(atPath: path)
    }

    // Python joblib, same array layout and size, same machine, same run.
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("python/persist_joblib.py").path
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", script]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        print("persist: the joblib side failed (pip install joblib numpy); Swift figures only")
        return figures
    }
    var joblib: [String: Double] = [:]
    for line in output.split(separator: "\n") {
        let parts = line.split(separator: " ")
        guard parts.count == 3, let value = Double(parts[1]) else { continue }
        emit(String(parts[0]), value, String(parts[2]))
        joblib[String(parts[0].dropFirst("joblib.".count))] = value
    }
    for key in ["raw.dump", "raw.load", "raw.dump_fsync", "lz4.dump", "lz4.load", "zlib3.dump", "zlib3.load"] {
        if let ours = swift[key], let theirs = joblib[key] { emit("ratio.\(key)", ours / theirs, "x") }
    }
    if let ours = swift["zstd3.dump"], let theirs = joblib["zlib3.dump"] { emit("ratio.zstd3_vs_joblib_zlib3.dump", ours / theirs, "x") }
    if let ours = swift["zstd3.size"], let theirs = joblib["zlib3.size"] { emit("ratio.zstd3_vs_joblib_zlib3.size", ours / theirs, "x") }
    if let ours = swift["mmap.open"], let theirs = joblib["mmap.open"] { emit("ratio.mmap.open", ours / theirs, "x") }
    return figures
}

/// A fast deterministic generator for building the test array (the system one makes a syscall per number).
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
