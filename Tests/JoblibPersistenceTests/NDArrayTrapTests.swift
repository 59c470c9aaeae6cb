import Foundation
import JoblibTestSupport
import Testing

/// An out-of-range `NDArray` access traps with a message that names the index and the bounds,
/// never reads or writes past the elements: each access runs in `joblib-test-helper
/// ndarray-out-of-range`, a process of its own, whose death by a signal and standard error tell.
/// (The element accessors are inlined into the caller, so the check is the caller's code: the
/// helper is such a caller.)
@Suite(.timeLimit(.minutes(1))) struct NDArrayTrapTests {
    @Test(arguments: [
        ("read", "NDArray index 5 is out of range 0..<5"),
        ("write", "NDArray index -1 is out of range 0..<5"),
        ("read-shaped", "NDArray index [2, 0] is out of bounds for shape [2, 3]"),
        ("write-shaped", "NDArray index [0, 3] is out of bounds for shape [2, 3]"),
        ("wrong-rank", "NDArray index [1] does not match shape [2, 3]"),
    ])
    func anOutOfRangeAccessTrapsWithItsMessage(access: String, message: String) throws {
        let result = try Self.runHelper(["ndarray-out-of-range", access])
        #expect(result.output.contains("about to access \(access)"), "the helper did not get to the access: \(result)")
        #expect(!result.output.contains("no trap"), "\(result.output)")
        #expect(result.signal == SIGILL || result.signal == SIGTRAP, "ended with \(result)")
        #expect(result.standardError.contains(message), "standard error: \(result.standardError)")
    }

    /// Runs the helper with `arguments` (killed after 30 s); the signal that ended it (nil: it
    /// exited), its standard output and its standard error.
    static func runHelper(_ arguments: [String]) throws -> (signal: Int32?, output: String, standardError: String) {
        let process = Process()
        process.executableURL = TestSupport.helperExecutable
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_BACKTRACE"] = "enable=no"  // the runtime's message alone, at once
        process.environment = environment
        let output = Pipe(), standardError = Pipe()
        process.standardOutput = output
        process.standardError = standardError
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        if process.isRunning {
            process.terminate()
            Issue.record("joblib-test-helper \(arguments) ran for 30 s")
        }
        process.waitUntilExit()
        let text = { (pipe: Pipe) in String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) }
        let signal = process.terminationReason == .uncaughtSignal ? process.terminationStatus : nil
        return (signal, text(output), text(standardError))
    }
}
