import Foundation
import Joblib
#if canImport(Glibc)
import Glibc
#endif

// dump / load of a large float64 array, half random and half zeros, beside Python joblib in the
// same run (Benchmarks/python/persist_joblib.py, driven line by line over a pipe).
//   swift run -c release --package-path Benchmarks joblib-bench persist
// JOBLIB_BENCH_PERSIST_BYTES: array size (default 1e9). JOBLIB_BENCH_PERSIST_CASES: a comma list
// of raw, zlib3, lz4, zstd3 (default all). JOBLIB_BENCH_PERSIST_REPS: repetitions of the raw and
// lz4 steps (default 5).
//
// Fairness: every repetition runs the Swift step and the joblib step back to back, alternating
// which goes first (even repetitions Swift first), and before each timed step the driver removes
// that side's previous file when the step writes a new one and calls sync() (untimed), so both
// start with no dirty pages and warm files. Neither side fsyncs unless the figure says durable.
// Loads read files just written (warm page cache) into fresh memory that is freed inside the
// timing on both sides. The `.swift_first` / `.swift_second` ratios show the order effect.

let persistenceWorkloads: [Workload] = [
    Workload(name: "persist", summary: "dump/load 1 GB float64 (raw, zlib-3, lz4, zstd-3, mapped, durable) vs joblib") {
        try persistFigures()
    },
]

private let environment = ProcessInfo.processInfo.environment
private let persistBytes = Int(environment["JOBLIB_BENCH_PERSIST_BYTES"] ?? "") ?? 1_000_000_000
private let persistCases = Set((environment["JOBLIB_BENCH_PERSIST_CASES"] ?? "raw,zlib3,lz4,zstd3").split(separator: ",").map(String.init))
private let persistReps = max(1, Int(environment["JOBLIB_BENCH_PERSIST_REPS"] ?? "") ?? 5)

private func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

private func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
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

/// The Python process: one command line in, one answer line out.
private final class JoblibSide {
    let process = Process()
    let input = Pipe()
    let output = Pipe()
    var pending: [UInt8] = []

    init?(script: String) {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script]
        process.standardInput = input
        process.standardOutput = output
        do { try process.run() } catch { return nil }
        guard let ready = readLine(), ready.hasPrefix("ready ") else { return nil }
    }

    func readLine() -> String? {
        while true {
            if let newline = pending.firstIndex(of: 0x0A) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                return line
            }
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { return nil }
            pending += chunk
        }
    }

    /// Sends a command; returns the numbers of its answer.
    func call(_ command: String) throws -> [Double] {
        input.fileHandleForWriting.write(Data((command + "\n").utf8))
        guard let line = readLine() else { throw PersistBenchError("the joblib side died on '\(command)'") }
        let numbers = line.split(separator: " ").compactMap { Double($0) }
        guard !numbers.isEmpty else { throw PersistBenchError("the joblib side answered '\(line)' to '\(command)'") }
        return numbers
    }

    func stop() {
        input.fileHandleForWriting.write(Data("quit\n".utf8))
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}

private struct PersistBenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Untimed preparation before each timed step: remove the file the step will write, flush dirty pages.
private func settle(removing path: String? = nil) {
    if let path { unlink(path) }
    sync()
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

    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("python/persist_joblib.py").path
    let python = JoblibSide(script: script)
    if python == nil { recordMissingComparison("persist", "persist_joblib.py did not start (scripts/setup-bench.sh installs joblib, numpy, lz4)") }
    defer { python?.stop() }

    /// Times of one metric: (seconds, Swift ran first in its pair).
    var swiftRuns: [String: [(Double, Bool)]] = [:]
    var joblibRuns: [String: [(Double, Bool)]] = [:]
    var order: [String] = []
    var sizes: [String: Double] = [:]

    /// One repetition of a step on both sides, in alternating order.
    func pair(_ metric: String, rep: Int, swift: () throws -> Double, joblib: (() throws -> Double)?) throws {
        if !order.contains(metric) { order.append(metric) }
        let swiftFirst = rep % 2 == 0 || joblib == nil
        if swiftFirst { swiftRuns[metric, default: []].append((try swift(), true)) }
        if let joblib { joblibRuns[metric, default: []].append((try joblib(), swiftFirst)) }
        if !swiftFirst { swiftRuns[metric, default: []].append((try swift(), false)) }
    }

    let cases: [(String, Compression, Int)] = [
        ("raw", .none, persistReps), ("zlib3", .zlib(level: 3), 1), ("lz4", .lz4(level: 0), persistReps), ("zstd3", .zstd(level: 3), 3),
    ]
    for (label, compression, repetitions) in cases where persistCases.contains(label) {
        let ours = directory.appendingPathComponent("swift.\(label).joblib").path
        let theirs = directory.appendingPathComponent("python.\(label).pkl").path
        let joblib = label == "zstd3" ? nil : python
        for rep in 0..<repetitions {
            try pair("\(label).dump", rep: rep, swift: {
                settle(removing: ours)
                return try seconds { try dump(array, to: ours, compression: compression, durable: false) }
            }, joblib: joblib.map { side in {
                settle(removing: theirs)
                return try side.call("dump \(label) \(theirs)")[0]
            } })
        }
        let ourSize = Double(try FileManager.default.attributesOfItem(atPath: ours)[.size] as! Int)
        emit("swift.\(label).size", ourSize / size * 100, "%")
        sizes["swift.\(label)"] = ourSize
        if joblib != nil {
            let theirSize = Double(try FileManager.default.attributesOfItem(atPath: theirs)[.size] as! Int)
            emit("joblib.\(label).size", theirSize / size * 100, "%")
            sizes["joblib.\(label)"] = theirSize
        }
        for rep in 0..<repetitions {
            try pair("\(label).load", rep: rep, swift: {
                settle()
                return try seconds { blackHole(try load(NDArray<Double>.self, from: ours)) }
            }, joblib: joblib.map { side in {
                settle()
                return try side.call("load \(theirs)")[0]
            } })
        }
        if label == "raw" {
            for rep in 0..<repetitions {
                // Over an existing file: Swift renames its temporary file over it, joblib truncates it.
                try pair("raw.dump_replace", rep: rep, swift: {
                    settle()
                    return try seconds { try dump(array, to: ours, compression: .none, durable: false) }
                }, joblib: joblib.map { side in {
                    settle()
                    return try side.call("dump raw \(theirs)")[0]
                } })
            }
            for rep in 0..<repetitions {
                try pair("raw.dump_durable", rep: rep, swift: {
                    settle(removing: ours)
                    return try seconds { try dump(array, to: ours, compression: .none, durable: true) }
                }, joblib: joblib.map { side in {
                    settle(removing: theirs)
                    return try side.call("durable \(theirs)")[0]
                } })
            }
            var opens: [Double] = [], sums: [Double] = [], theirOpens: [Double] = [], theirSums: [Double] = []
            for _ in 0..<3 {
                settle()
                let start = DispatchTime.now().uptimeNanoseconds
                let mapped = try load(NDArray<Double>.self, from: ours, mapping: .readOnly)
                let opened = DispatchTime.now().uptimeNanoseconds
                let total = mapped.withUnsafeBufferPointer { $0.reduce(0, +) }
                let summed = DispatchTime.now().uptimeNanoseconds
                precondition(abs(total - expectedSum) <= 1e-6 * abs(expectedSum), "mapped sum differs")
                opens.append(Double(opened - start) / 1e6)
                sums.append(Double(summed - opened) / 1e9)
                if let joblib {
                    let answer = try joblib.call("mmap \(theirs)")
                    theirOpens.append(answer[0] * 1e3)
                    theirSums.append(answer[1])
                }
            }
            emit("swift.mmap.open", median(opens), "ms")
            emit("swift.mmap.sum", median(sums), "s")
            if joblib != nil {
                emit("joblib.mmap.open", median(theirOpens), "ms")
                emit("joblib.mmap.sum", median(theirSums), "s")
                emit("ratio.mmap.open", median(opens) / median(theirOpens), "x")
            }
        }
        unlink(ours)
        unlink(theirs)
    }

    // Speeds (GB/s of array data), ratios, and the order effect.
    var speeds: [String: Double] = [:]
    for metric in order {
        let swift = swiftRuns[metric] ?? []
        let ourSpeed = size / median(swift.map(\.0)) / 1e9
        speeds["swift." + metric] = ourSpeed
        emit("swift.\(metric)", ourSpeed, "GB/s")
        let runs = { (runs: [(Double, Bool)]) in runs.map { String(format: "%.2f%@", size / $0.0 / 1e9, $0.1 ? "" : "*") }.joined(separator: " ") }
        var note = "# persist \(metric) GB/s per run (* = Swift ran second): swift \(runs(swift))"
        if let theirs = joblibRuns[metric] {
            let theirSpeed = size / median(theirs.map(\.0)) / 1e9
            speeds["joblib." + metric] = theirSpeed
            emit("joblib.\(metric)", theirSpeed, "GB/s")
            emit("ratio.\(metric)", ourSpeed / theirSpeed, "x")
            note += ", joblib \(runs(theirs))"
            for (name, swiftFirst) in [("swift_first", true), ("swift_second", false)] {
                let a = swift.filter { $0.1 == swiftFirst }.map(\.0), b = theirs.filter { $0.1 == swiftFirst }.map(\.0)
                if !a.isEmpty, !b.isEmpty, swift.count > 1 { emit("ratio.\(metric).\(name)", median(b) / median(a), "x") }
            }
        }
        FileHandle.standardError.write(Data((note + "\n").utf8))
    }
    if let ours = speeds["swift.zstd3.dump"], let theirs = speeds["joblib.zlib3.dump"] { emit("ratio.zstd3_vs_joblib_zlib3.dump", ours / theirs, "x") }
    if let ours = sizes["swift.zstd3"], let theirs = sizes["joblib.zlib3"] { emit("ratio.zstd3_vs_joblib_zlib3.size", ours / theirs, "x") }
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
