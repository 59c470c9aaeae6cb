import Foundation
import SystemPackage
import Testing
import JoblibSystem

/// `systemCall`: one shape for failures, EINTR retried, expected failures as nil, and the seam
/// through which tests inject failures.
@Suite struct SystemCallTests {
    @Test func failuresCarryOperationPathAndErrno() throws {
        do {
            _ = try systemCall("open", path: "/nonexistent/x") { open("/nonexistent/x", O_RDONLY) }
            Issue.record("open of a missing file succeeded")
        } catch {
            #expect(error.operation == "open" && error.path == "/nonexistent/x" && error.errno == .noSuchFileOrDirectory)
            #expect(error.description == "open '/nonexistent/x': \(Errno.noSuchFileOrDirectory)")
        }
        #expect(try systemCall("open", nilOn: [.noSuchFileOrDirectory]) { open("/nonexistent/x", O_RDONLY) } == nil)
        #expect(throws: SystemError.self) { try systemCall("open", nilOn: [.permissionDenied]) { open("/nonexistent/x", O_RDONLY) } }
    }

    @Test func injectedFailuresAreUsedOnceInOrderAndEINTRIsRetried() throws {
        var calls = 0
        let failures = InjectedSystemCallFailures([("getpid", .interrupted), ("getpid", .interrupted), ("getpid", .notPermitted)])
        try failures.during { () throws in
            // Two injected EINTRs are retried, then the third failure is thrown without a call.
            #expect(throws: SystemError.self) { try systemCall("getpid") { calls += 1; return getpid() } }
            #expect(calls == 0)
            #expect(try systemCall("getpid") { calls += 1; return getpid() } == getpid())
            #expect(calls == 1)
            // Another operation is not affected.
            #expect(try systemCall("getppid") { getppid() } == getppid())
        }
        #expect(failures.injectedCount == 3 && failures.remaining.isEmpty)
    }

    @Test func injectionStaysInTheTaskThatAskedForIt() async throws {
        let failures = InjectedSystemCallFailures([("getpid", .notPermitted)])
        let elsewhere = Task.detached { try systemCall("getpid") { getpid() } }
        failures.during {
            let other = Thread { _ = try? systemCall("getpid") { getpid() } }
            other.start()
            while !other.isFinished { usleep(1000) }
        }
        _ = try await elsewhere.value
        #expect(failures.remaining.count == 1 && failures.injectedCount == 0)
    }
}
