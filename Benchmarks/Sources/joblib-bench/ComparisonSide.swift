import Foundation
import Synchronization

// The Python joblib side of a workload is optional: a machine without python3 or joblib still
// gets every Swift figure, and the table says why the joblib column is empty.

/// Workloads that threw instead of measuring, with the error, for the table.
let failedWorkloads = Mutex<[String: String]>([:])

/// Why a workload's joblib figures are missing, by workload name, for the table.
let missingComparisons = Mutex<[String: String]>([:])

/// Records that `workload` has no joblib figures, and says so once on standard error.
func recordMissingComparison(_ workload: String, _ reason: String) {
    missingComparisons.withLock { $0[workload] = reason }
    FileHandle.standardError.write(Data("\(workload): joblib side not run: \(reason)\n".utf8))
}

/// Benchmarks/python/<script>, next to this package's sources.
func pythonScript(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../python/\(name)").standardized.path
}

/// Runs `python3 script arguments…` and returns its standard output, or nil (with the reason
/// recorded for `workload`) when Python, joblib or the script fails.
func runComparison(_ workload: String, script: String, _ arguments: [String]) -> String? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", pythonScript(script)] + arguments
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    do { try process.run() } catch {
        recordMissingComparison(workload, "python3 could not start (\(error)); run scripts/setup-bench.sh")
        return nil
    }
    // Read both pipes while the child runs, so a chatty child never blocks on a full pipe.
    let stderrBytes = Mutex<Data>(Data())
    let drained = DispatchSemaphore(value: 0)
    Thread {
        let bytes = errors.fileHandleForReading.readDataToEndOfFile()
        stderrBytes.withLock { $0 = bytes }
        drained.signal()
    }.start()
    let stdout = output.fileHandleForReading.readDataToEndOfFile()
    drained.wait()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        let lastLine = String(decoding: stderrBytes.withLock { $0 }, as: UTF8.self)
            .split(separator: "\n").last.map(String.init) ?? "exit status \(process.terminationStatus)"
        recordMissingComparison(workload, "\(script) \(arguments.joined(separator: " ")) failed: \(lastLine)")
        return nil
    }
    return String(decoding: stdout, as: UTF8.self)
}

/// The numbers of `name value unit` lines, by name.
func namedFigures(_ output: String) -> [String: Double] {
    var figures: [String: Double] = [:]
    for line in output.split(separator: "\n") {
        let fields = line.split(separator: " ")
        if fields.count >= 2, let value = Double(fields[1]) { figures[String(fields[0])] = value }
    }
    return figures
}

/// joblib's figure for `workload` from `script mode` (its first `name value unit` line), as
/// metric `joblib`, and how many times better ours is (metric `joblib_ratio`); nothing when
/// Python joblib cannot run here.
func joblibComparison(_ workload: String, script: String, _ mode: String, unit: String, ours: Double, higherIsBetter: Bool = false) -> [Figure] {
    guard let output = runComparison(workload, script: script, [mode]),
          let theirs = namedFigures(output).values.first
    else { return [] }
    return [
        Figure(workload: workload, metric: "joblib", value: theirs, unit: unit),
        Figure(workload: workload, metric: "joblib_ratio", value: higherIsBetter ? ours / theirs : theirs / ours, unit: "x"),
    ]
}
