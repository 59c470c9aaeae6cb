import Foundation
import SystemPackage
import Testing
import JoblibSystem

/// The one whole-file reader (`readWholeFile`) and the reader of generated files built on it.
@Suite struct WholeFileReaderTests {
    private func withFile(_ bytes: [UInt8], _ body: (FileDescriptor, String) throws -> Void) throws {
        try withTemporaryDirectory { directory in
            let path = directory.appending("data.bin")
            try withFileDescriptor(path, .writeOnly, options: [.create], permissions: .ownerReadWrite) { fd in
                try bytes.withUnsafeBytes { try fd.writeAll($0) }
            }
            try withFileDescriptor(path, .readOnly) { try body($0, path.string) }
        }
    }

    @Test func readsTheReportedSizeOrUntilEndOfFile() throws {
        let bytes = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try withFile(bytes) { fd, _ throws in
            #expect(try fd.readWholeFile(size: bytes.count) == bytes)
            #expect(try fd.readAllBytes() == bytes)
            // Size 0 (as /proc claims): read until end of file, growing past the first 4 KiB.
            #expect(try fd.readWholeFile(size: 0) == bytes)
            // A stale, smaller size reads what it was told (a snapshot, as fstat saw it).
            #expect(try fd.readWholeFile(size: 100) == Array(bytes[..<100]))
        }
    }

    @Test func moreThanTheLimitIsFileTooLargeNamingThePath() throws {
        let bytes = [UInt8](repeating: 1, count: 5000)
        try withFile(bytes) { fd, path throws in
            #expect(try fd.readWholeFile(size: 0, limit: 5000) == bytes)
            for size in [0, 5000] {
                do {
                    _ = try fd.readWholeFile(size: size, limit: 4999, path: path)
                    Issue.record("read more than the limit (size \(size))")
                } catch let error as SystemError {
                    #expect(error.errno == .fileTooLarge && error.path == path)
                }
            }
        }
    }

    @Test func generatedFilesAreReadUntilEndOfFile() {
        // /proc/self/status reports a size of 0 yet holds text.
        let status = readSystemFile("/proc/self/status")
        #expect(status?.contains("Pid:\t\(getpid())") == true)
        #expect(readSystemFile("/proc/self/status", limit: 10) == nil)
        #expect(readSystemFile("/nonexistent/joblib") == nil)
    }
}
