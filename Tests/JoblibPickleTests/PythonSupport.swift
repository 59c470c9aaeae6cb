import Foundation
import JoblibTestSupport
import Testing

/// Runs `Python/joblib_files.py` (joblib, numpy, scikit-learn: scripts/setup.sh installs them)
/// with a deadline; the child is killed when it passes.
enum PythonScript {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Python/joblib_files.py")

    @discardableResult
    static func run(_ arguments: [String], timeout: Duration = .seconds(90)) throws -> String {
        let python3 = try #require(TestSupport.which("python3"), "python3 with joblib is needed (scripts/setup.sh)")
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("joblib-pickle-\(UUID().uuidString).out")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let handle = try FileHandle(forWritingTo: output)
        defer { try? handle.close() }
        let process = Process()
        process.executableURL = python3
        process.arguments = [script.path] + arguments
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { usleep(10_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            Issue.record("joblib_files.py \(arguments.first ?? "") did not finish within \(timeout)")
        }
        process.waitUntilExit()
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        try #require(process.terminationStatus == 0, "joblib_files.py \(arguments) failed: \(text)")
        return text
    }
}

/// A temporary directory removed at the end of the test.
final class TemporaryDirectory {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("joblib-pickle-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    var files: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []).sorted() }
    deinit { try? FileManager.default.removeItem(at: url) }
}
