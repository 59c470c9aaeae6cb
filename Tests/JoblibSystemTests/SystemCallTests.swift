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

    /// The calls that answer a pointer (`mmap`, `mkdtemp`) or an error number (`posix_spawn`),
    /// and the ones the lock and the cache's read path make, fail through the same seam: one
    /// error shape, EINTR retried, nothing left open.
    @Test func everyWrapperFailsThroughTheSeam() throws {
        func expectFailure(_ operation: String, _ errno: Errno, _ body: () throws -> Void) {
            let failures = InjectedSystemCallFailures([(operation, errno)])
            failures.during {
                do {
                    try body()
                    Issue.record("\(operation) did not fail")
                } catch let error as SystemError {
                    #expect(error.operation == operation && error.errno == errno, "\(error)")
                } catch {
                    Issue.record("\(operation) threw \(error)")
                }
            }
            #expect(failures.injectedCount == 1, "\(operation) did not go through systemCall")
        }
        try withTemporaryDirectory { directory in
            let data = directory.appending("data")
            try Data(repeating: 7, count: 4096).write(to: URL(fileURLWithPath: data.string))
            let fd = try FileDescriptor.open(data, .readOnly)
            defer { try? fd.close() }
            let descriptorsBefore = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count

            expectFailure("mmap", .noMemory) { _ = try MemoryMapping(fd: fd, offset: 0, count: 4096, access: .readOnly) }
            expectFailure("mkdtemp", .noSpace) { _ = try TemporaryDirectory() }
            expectFailure("posix_spawn", .resourceTemporarilyUnavailable) {
                _ = try ChildProcess.spawn(executable: "/bin/true", arguments: [], environment: [:])
            }
            expectFailure("eventfd", .tooManyOpenFiles) { _ = try WakeSignal() }
            expectFailure("fstat", .ioError) { _ = try FileLock(directory.appending("lock")) }
            for operation in ["open", "fstat", "read"] {
                expectFailure(operation, .ioError) {
                    _ = try data.string.withCString { try withSmallFile(in: AT_FDCWD, path: $0, touchOlderThan: nil) { bytes, _ in bytes.count } }
                }
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count == descriptorsBefore)

            // EINTR is retried for pointer results too.
            let interrupted = InjectedSystemCallFailures([("mmap", .interrupted)])
            let mapping = try interrupted.during { try MemoryMapping(fd: fd, offset: 0, count: 4096, access: .readOnly) }
            #expect(interrupted.injectedCount == 1 && mapping.bytes.first == 7)
        }
    }
}
