import Foundation
import JoblibTestSupport
import SystemPackage
import Testing
@testable import JoblibSystem

@Suite(.timeLimit(.minutes(1))) struct ProcessChannelTests {
    /// In a helper process (a SIGPIPE would kill it, not the test runner): writes to a pipe and a
    /// socket whose reader is gone are the error EPIPE.
    @Test func writesToAGoneReaderFailWithoutSignal() throws {
        let result = try TestSupport.run(TestSupport.helperExecutable, ["broken-pipe-writes"])
        #expect(result.status == 0, "status \(result.status): \(result.output)")
        #expect(result.output.contains("ok pipe EPIPE") && result.output.contains("ok socket EPIPE"), "\(result.output)")
    }

    @Test func theExitDescriptorBecomesReadableWhenTheProcessEnds() throws {
        let pipe = try makePipe()
        // Each end is closed exactly once: a second close could hit a descriptor another test
        // opened meanwhile under the same number.
        defer { try? pipe.read.close() }
        // The child's grandchild keeps the pipe open for 20 s; the child itself ends at once.
        let child: ChildProcess
        do {
            defer { try? pipe.write.close() }
            child = try ChildProcess.spawn(
                executable: "/bin/sh", arguments: ["-c", "sleep 20 & echo $! >&7; exit 5"], environment: ["PATH": "/usr/bin:/bin"],
                descriptors: [(pipe.write, 7)])
        }
        let exit = try #require(child.exitDescriptor)
        let start = ContinuousClock.now
        var ended = false
        while !ended && ContinuousClock.now - start < .seconds(5) {
            ended = try waitReadable(pipe.read, or: exit, timeout: .seconds(5)).second
        }
        #expect(ended)
        #expect(ContinuousClock.now - start < .seconds(2))
        #expect(child.wait() == .exited(5))
        #expect(child.poll() == .exited(5))  // answered from the cached status, not a lost waitpid
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = try buffer.withUnsafeMutableBytes { try pipe.read.read(into: $0) }
        if let pid = Int32(String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) {
            kill(pid, SIGKILL)
        }
    }
}
