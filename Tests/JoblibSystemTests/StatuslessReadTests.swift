import Foundation
import SystemPackage
import Testing
@testable import JoblibSystem

#if canImport(Glibc)
import Glibc
#endif

/// `readSmallFile(…, needsStatus: false)`: the cache hit's read without `fstat`, and every way
/// back to the checked read.
@Suite(.timeLimit(.minutes(1)))
struct StatuslessReadTests {
    /// Writes `bytes` to `<directory>/key/output`.
    private func writeOutput(_ directory: FilePath, _ bytes: [UInt8]) throws {
        try makeDirectories(directory.appending("key"))
        try writeFileAtomically(to: directory.appending("key/output")) { fd in try bytes.withUnsafeBytes { try fd.writeAll($0) } }
    }

    /// What each call of `body` got: the bytes, and whether a status came with them.
    private func read(_ directory: FilePath, needsStatus: Bool) throws -> (found: Bool, calls: [(bytes: [UInt8], status: Bool)]) {
        try read(try #require(try DirectoryHandle(directory)), needsStatus: needsStatus)
    }

    private func read(_ handle: DirectoryHandle, needsStatus: Bool) throws -> (found: Bool, calls: [(bytes: [UInt8], status: Bool)]) {
        var calls: [(bytes: [UInt8], status: Bool)] = []
        let found = try readSmallFile(in: handle.fd, path: "key/output", touchOlderThan: nil, limit: 1 << 20, needsStatus: needsStatus) {
            calls.append((Array($0), $1 != nil))
        }
        return (found, calls)
    }

    /// A file shorter than `statuslessReadSize` is read whole by one `pread`, without `fstat`
    /// (an injected `fstat` failure is never used); with `needsStatus` the status is read.
    @Test func aShortFileIsReadWithoutItsStatus() throws {
        try withTemporaryDirectory { directory in
            try writeOutput(directory, [7, 8, 9])
            let handle = try #require(try DirectoryHandle(directory))
            let failures = InjectedSystemCallFailures([("fstat", .ioError)])
            let result = try failures.during { try read(handle, needsStatus: false) }
            #expect(result.found)
            #expect(result.calls.map(\.bytes) == [[7, 8, 9]])
            #expect(result.calls.map(\.status) == [false])
            #expect(failures.injectedCount == 0, "a read without status made an fstat")

            let checked = InjectedSystemCallFailures([("fstat", .ioError)])
            #expect(throws: SystemError.self) { try checked.during { try read(handle, needsStatus: true) } }
            #expect(checked.injectedCount == 1)
            #expect(try read(handle, needsStatus: true).calls.map(\.status) == [true])

            #expect(try readSmallFile(in: handle.fd, path: "other/output", touchOlderThan: nil, limit: 16, needsStatus: false) { _, _ in
                Issue.record("read a missing file")
            } == false)
        }
    }

    /// Empty files and files of `statuslessReadSize` bytes or more are read with their status,
    /// whole (a full buffer does not say where the file ends).
    @Test(arguments: [0, 1, statuslessReadSize - 1, statuslessReadSize, statuslessReadSize + 1, 100_000])
    func everySizeIsReadWhole(count: Int) throws {
        try withTemporaryDirectory { directory in
            let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            try writeOutput(directory, bytes)
            let result = try read(directory, needsStatus: false)
            #expect(result.calls.count == 1)
            #expect(result.calls.first?.bytes == bytes)
            #expect(result.calls.first?.status == (count == 0 || count >= statuslessReadSize))
        }
    }

    /// A FIFO, a directory, a socket, `/dev/null` and `/dev/zero` (through symbolic links) where
    /// the file belongs: refused as not regular (`notRegularFile`), at once, `body` never called.
    @Test(arguments: ["fifo", "directory", "socket", "null", "zero"])
    func specialFilesAreRefused(kind: String) throws {
        try withTemporaryDirectory { directory in
            try makeDirectories(directory.appending("key"))
            let output = directory.appending("key/output").string
            switch kind {
            case "fifo": #expect(mkfifo(output, 0o644) == 0)
            case "directory": try makeDirectories(FilePath(output))
            case "socket":
                let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
                defer { close(fd) }
                var address = sockaddr_un()
                address.sun_family = sa_family_t(AF_UNIX)
                withUnsafeMutableBytes(of: &address.sun_path) { raw in
                    for (index, byte) in output.utf8.enumerated() where index < raw.count - 1 { raw[index] = byte }
                }
                let bound = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
                }
                #expect(bound == 0)
            default: #expect(symlink("/dev/\(kind)", output) == 0)
            }
            do {
                let result = try read(directory, needsStatus: false)
                // A socket cannot be opened at all (ENXIO): reported as a failed open, not read.
                Issue.record("\(kind) was read: \(result)")
            } catch let error as SystemError {
                if kind == "socket" {
                    #expect(error.errno == .noSuchAddressOrDevice || error.notRegularFile != nil, "\(error)")
                } else {
                    #expect(error.notRegularFile != nil, "\(error)")
                }
            }
        }
    }

    /// When `body` refuses the bytes of a read without status, the file is read again with its
    /// status and `body` has the last word: its second answer is the call's.
    @Test func aRefusalIsReadAgainWithStatus() throws {
        try withTemporaryDirectory { directory in
            try writeOutput(directory, [1, 2, 3])
            let handle = try #require(try DirectoryHandle(directory))
            let descriptorsBefore = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count
            struct Refused: Error {}
            var statuses: [Bool] = []
            #expect(throws: Refused.self) {
                try readSmallFile(in: handle.fd, path: "key/output", touchOlderThan: nil, limit: 16, needsStatus: false) { _, read in
                    statuses.append(read != nil)
                    throw Refused()
                }
            }
            #expect(statuses == [false, true])

            statuses = []
            let found = try readSmallFile(in: handle.fd, path: "key/output", touchOlderThan: nil, limit: 16, needsStatus: false) { _, read in
                statuses.append(read != nil)
                if read == nil { throw Refused() }
            }
            #expect(found)
            #expect(statuses == [false, true])
            // Neither way leaves a descriptor open.
            #expect(try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count == descriptorsBefore)
        }
    }

    /// A file above `limit` is refused (`fileTooLarge`) by the checked read, also when short.
    @Test func theLimitHolds() throws {
        try withTemporaryDirectory { directory in
            try writeOutput(directory, [1, 2, 3])
            let handle = try #require(try DirectoryHandle(directory))
            do {
                _ = try readSmallFile(in: handle.fd, path: "key/output", touchOlderThan: nil, limit: 2, needsStatus: false) { _, _ in
                    Issue.record("a file above the limit was read")
                }
                Issue.record("no error")
            } catch let error as SystemError {
                #expect(error.errno == .fileTooLarge)
            }
        }
    }
}
