import Foundation
import JoblibPersistence
import JoblibSystem
import SystemPackage
import Testing

/// dump and load when the system fails them (failures injected into JoblibSystem's system calls):
/// a typed error that names the cause, the old file intact, no temporary file left behind.
@Suite struct SystemFailureTests {
    private let old = [1.0, 2.0, 3.0]
    private let new = Array(repeating: 7.5, count: 1000)

    private func entries(_ scratch: Scratch) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: scratch.url.path).sorted()
    }

    @Test(arguments: [("write", Errno.noSpace), ("fsync", .ioError), ("rename", .notPermitted), ("open", .tooManyOpenFiles)])
    func aFailedDumpKeepsTheOldFileAndNoTemporary(operation: String, errno: Errno) throws {
        let scratch = try Scratch()
        let path = scratch.path("model.joblib")
        try dump(old, to: path, compression: .none)
        let failures = InjectedSystemCallFailures([(operation, errno)])
        let failure = loadFailure { try failures.during { try dump(new, to: path, compression: .none) } }
        #expect(failures.injectedCount == 1)
        #expect(failure?.code == .io)
        #expect(failure?.error.underlying.map { ($0 as? SystemError)?.errno } == errno)
        #expect(failure.map { "\($0.error)".contains("\(errno)") } == true, "the message names the cause: \(String(describing: failure?.error))")
        #expect(try load([Double].self, from: path) == old)
        #expect(try entries(scratch) == ["model.joblib"])
    }

    @Test func interruptedCallsAreRetried() throws {
        let scratch = try Scratch()
        let path = scratch.path("model.joblib")
        let failures = InjectedSystemCallFailures([
            ("open", .interrupted), ("write", .interrupted), ("fsync", .interrupted), ("rename", .interrupted),
        ])
        try failures.during { try dump(new, to: path, compression: .none) }
        #expect(failures.remaining.isEmpty && failures.injectedCount == 4)
        let reads = InjectedSystemCallFailures([("open", .interrupted), ("pread", .interrupted)])
        #expect(try reads.during { try load([Double].self, from: path) } == new)
        #expect(reads.remaining.isEmpty)
    }

    @Test func aFailedReadIsAnIOErrorNotCorruption() throws {
        let scratch = try Scratch()
        let path = scratch.path("model.joblib")
        try dump(new, to: path, compression: .none)
        let failures = InjectedSystemCallFailures([("pread", .ioError)])
        let failure = loadFailure { _ = try failures.during { try load([Double].self, from: path) } }
        #expect(failure?.code == .io)
        #expect(failures.injectedCount == 1)
        // Nothing was damaged: the next load reads the file.
        #expect(try load([Double].self, from: path) == new)
    }
}
