import Foundation
import SystemPackage
import Testing
@testable import JoblibSystem

@Suite(.timeLimit(.minutes(1))) struct ChildProcessTests {
    private let environment = ["PATH": "/usr/bin:/bin"]

    @Test func exitStatusAndSignals() throws {
        let exited = try ChildProcess.spawn(executable: "/bin/sh", arguments: ["-c", "exit 3"], environment: environment)
        #expect(exited.wait() == .exited(3))
        let killed = try ChildProcess.spawn(executable: "/bin/sh", arguments: ["-c", "kill -9 $$"], environment: environment)
        #expect(killed.wait() == .signaled(9))
    }

    @Test func mappedDescriptorsAndNothingElseAreInherited() throws {
        let pipe = try makePipe()
        let extra = try makePipe()  // open in the parent, must not reach the child
        defer { [pipe.read, pipe.write, extra.read, extra.write].forEach { try? $0.close() } }
        let child = try ChildProcess.spawn(
            executable: "/bin/sleep", arguments: ["5"], environment: environment, descriptors: [(pipe.write, 7)])
        defer { child.kill(); _ = child.wait() }
        // Read the child's descriptor table from the outside.
        var descriptors: Set<String> = []
        for _ in 0..<100 {
            descriptors = Set((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(child.pid)/fd")) ?? [])
            if descriptors.contains("7") { break }
            usleep(10_000)
        }
        #expect(descriptors == ["0", "1", "2", "7"])
    }

    @Test func terminateEscalatesToKill() throws {
        // The child ignores SIGTERM, so terminate must fall back to SIGKILL after the grace period.
        let child = try ChildProcess.spawn(
            executable: "/bin/sh", arguments: ["-c", "trap '' TERM; while :; do sleep 0.05; done"], environment: environment)
        usleep(100_000)
        let start = ContinuousClock.now
        #expect(child.terminate(grace: .milliseconds(100)) == .signaled(9))
        #expect(ContinuousClock.now - start < .seconds(2))
    }

    @Test func pollReturnsNilWhileRunning() throws {
        let child = try ChildProcess.spawn(executable: "/bin/sleep", arguments: ["5"], environment: environment)
        #expect(child.poll() == nil)
        child.kill()
        #expect(child.wait() == .signaled(9))
    }

    @Test func missingExecutableIsASystemError() {
        #expect(throws: SystemError.self) {
            try ChildProcess.spawn(executable: "/nonexistent/joblib", arguments: [], environment: [:])
        }
    }

    @Test func currentExecutableIsThisTestBinary() throws {
        #expect(try currentExecutablePath().hasSuffix(".xctest"))
    }
}
