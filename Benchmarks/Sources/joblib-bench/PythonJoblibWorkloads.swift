import Foundation
import Joblib
#if canImport(Glibc)
import Glibc
#endif

// Loading a file that Python's joblib.dump wrote: a 1 GB float64 array, uncompressed. Our reader
// (`load(NDArray<Double>.self, from:)`, read into memory, and mapped) beside `joblib.load` (and
// `mmap_mode="r"`) in the same run, alternating which side goes first.
//   swift run -c release --package-path Benchmarks joblib-bench python-load
// JOBLIB_BENCH_PYTHON_BYTES: array size (default 1e9). JOBLIB_BENCH_PYTHON_REPS: repetitions (default 5).

let pythonJoblibWorkloads: [Workload] = [
    Workload(name: "python-load", summary: "load a 1 GB float64 array written by Python joblib: ours vs joblib.load (read, mapped)") {
        try pythonLoadFigures()
    },
]

private struct PythonLoadError: Error, CustomStringConvertible {
    var description: String
}

private func pythonLoadFigures() throws -> [Figure] {
    let environment = ProcessInfo.processInfo.environment
    let repetitions = max(1, Int(environment["JOBLIB_BENCH_PYTHON_REPS"] ?? "") ?? 5)
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("joblib-bench-python-\(getpid())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("python.joblib").path
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("python/python_load_joblib.py").path

    let process = Process()
    let input = Pipe(), output = Pipe()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", script, path]
    process.standardInput = input
    process.standardOutput = output
    try process.run()
    defer {
        input.fileHandleForWriting.write(Data("quit\n".utf8))
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
    var pending: [UInt8] = []
    func readLine() throws -> String {
        while true {
            if let newline = pending.firstIndex(of: 0x0A) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                return line
            }
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { throw PythonLoadError(description: "the joblib side ended (pip install joblib numpy)") }
            pending += chunk
        }
    }
    func call(_ command: String) throws -> Double {
        input.fileHandleForWriting.write(Data((command + "\n").utf8))
        let line = try readLine()
        guard let value = Double(line) else { throw PythonLoadError(description: "the joblib side answered '\(line)'") }
        return value
    }
    let ready = try readLine().split(separator: " ")
    guard ready.count == 3, ready[0] == "ready", let expectedSum = Double(ready[2]) else {
        throw PythonLoadError(description: "the joblib side did not start: \(ready)")
    }

    func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
    // Correctness first, outside the timings: the same array, mapped and read.
    let check = try load(NDArray<Double>.self, from: path, mapping: .readOnly)
    guard check.isMemoryMapped, abs(check.reduce(0, +) - expectedSum) <= 1e-6 * abs(expectedSum) else {
        throw PythonLoadError(description: "the array read by Swift does not sum to Python's \(expectedSum)")
    }
    let bytes = Double(check.count * 8)

    var swiftLoad: [Double] = [], joblibLoad: [Double] = [], swiftMap: [Double] = [], joblibMap: [Double] = []
    for repetition in 0..<repetitions {
        sync()
        let swiftStep = {
            swiftLoad.append(try seconds { blackHole(try load(NDArray<Double>.self, from: path)) })
        }
        if repetition % 2 == 0 {
            try swiftStep()
            joblibLoad.append(try call("load \(path)"))
        } else {
            joblibLoad.append(try call("load \(path)"))
            try swiftStep()
        }
        swiftMap.append(try seconds { blackHole(try load(NDArray<Double>.self, from: path, mapping: .readOnly)) })
        joblibMap.append(try call("mmap \(path)"))
    }
    // Every run, as persist prints them: the machines are shared and single runs vary widely.
    func runs(_ values: [Double]) -> String { values.map { String(format: "%.3f", $0) }.joined(separator: " ") }
    print("# python-load seconds per run (Swift first on even runs): swift \(runs(swiftLoad)), joblib \(runs(joblibLoad))")
    func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }
    let figures = [
        Figure(workload: "python-load", metric: "swift.load", value: median(swiftLoad), unit: "s"),
        Figure(workload: "python-load", metric: "joblib.load", value: median(joblibLoad), unit: "s"),
        Figure(workload: "python-load", metric: "swift.load.throughput", value: bytes / median(swiftLoad) / 1e9, unit: "GB/s"),
        Figure(workload: "python-load", metric: "joblib.load.throughput", value: bytes / median(joblibLoad) / 1e9, unit: "GB/s"),
        Figure(workload: "python-load", metric: "load.speedup", value: median(joblibLoad) / median(swiftLoad), unit: "x"),
        Figure(workload: "python-load", metric: "swift.mmap.open", value: median(swiftMap) * 1e3, unit: "ms"),
        Figure(workload: "python-load", metric: "joblib.mmap.open", value: median(joblibMap) * 1e3, unit: "ms"),
    ]
    return figures
}
