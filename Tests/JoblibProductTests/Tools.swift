import Foundation
import JoblibTestSupport

/// Runs the package's executables as a user would and collects what they print.
enum Tool {
    struct Run {
        var status: Int32
        var output: String
        var errors: String
    }

    /// Runs `name` (an executable next to the test binary) in `directory` with a time limit;
    /// standard output and error go through files, so neither can fill a pipe and block.
    static func run(_ name: String, _ arguments: [String], in directory: URL? = nil, timeout: TimeInterval = 60) throws -> Run {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("joblib-product-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let out = scratch.appendingPathComponent("stdout"), err = scratch.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let process = Process()
        process.executableURL = TestSupport.buildDirectory.appendingPathComponent(name)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)  // SIGTERM could be handled or ignored
            process.waitUntilExit()
            throw TimeoutError(command: "\(name) \(arguments.joined(separator: " "))")
        }
        process.waitUntilExit()
        return Run(
            status: process.terminationStatus,
            output: String(decoding: try Data(contentsOf: out), as: UTF8.self),
            errors: String(decoding: try Data(contentsOf: err), as: UTF8.self))
    }

    struct TimeoutError: Error { var command: String }
}

/// A directory removed at the end of a test.
final class Scratch {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("joblib-product-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}

/// Parses JSON output.
func json(_ text: String) throws -> Any {
    try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
}
