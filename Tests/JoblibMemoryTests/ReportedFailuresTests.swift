import Foundation
@testable import JoblibMemory
import JoblibSystem
import SystemPackage
import Testing

/// Failures that used to be swallowed (`try?`) in `checkCallInCache` and `MemorizedResult.get`:
/// each is now an error or a warning, and only "nothing there" stays silent.
@Suite("Memory: failures are reported, not swallowed")
struct ReportedFailuresTests {
    /// Replaces `function`'s only entry output with a symbolic link to itself: `stat` fails with
    /// `ELOOP`, which is neither "cached" nor "not cached" (works as root too, unlike `chmod`).
    func loopOutput(_ fixture: Fixture, _ function: String) throws -> String {
        let output = fixture.output(function, try #require(fixture.entries(function).first))
        try FileManager.default.removeItem(atPath: output)
        try FileManager.default.createSymbolicLink(atPath: output, withDestinationPath: output)
        return output
    }

    @Test func checkCallInCacheThrowsWhenTheEntryCannotBeExamined() throws {
        let fixture = try Fixture()
        let f = fixture.memory.cache(name: "f") { (x: Int) -> Int in x * 2 }
        _ = try f(1)
        let output = try loopOutput(fixture, "f")
        #expect {
            try f.checkCallInCache(1)
        } throws: { error in
            guard let error = error as? MemoryError else { return false }
            return error.code == .io && error.path == output && (error.underlying as? SystemError)?.errno == .tooManySymbolicLinkLevels
        }
        // Absent is still a plain "no".
        #expect(try !f.checkCallInCache(2))
    }

    @Test func callAndShelveRecomputesAnEntryThatCannotBeExaminedWithAWarning() throws {
        let fixture = try Fixture()
        let counter = CallCounter()
        let f = fixture.memory.cache(name: "f") { (x: Int) -> Int in counter.tick(); return x * 2 }
        _ = try f(1)
        _ = try loopOutput(fixture, "f")
        let shelved = try f.callAndShelve(1)
        #expect(counter.value == 2)
        #expect(fixture.warnings.codes == [.corruptEntry])
        #expect(try shelved.get() == 2)
        #expect(try f.checkCallInCache(1))
    }

    @Test func getRecordsTheAccessWithoutWarning() throws {
        let fixture = try Fixture()
        let f = fixture.memory.cache(name: "f") { (x: Int) -> Int in x * 2 }
        let shelved = try f.callAndShelve(3)
        let output = fixture.output("f", try #require(shelved.argumentHash))
        try age(output, accessedSecondsAgo: 3_600)
        let warnings = WarningLog()
        #expect(try shelved.get(onWarning: warnings.handler) == 6)
        #expect(warnings.all.isEmpty)
        let accessed = try #require(try fileStatus(FilePath(output))).accessTime
        #expect(abs(accessed - Date().timeIntervalSince1970) < 60)
    }

    @Test func aFailureToRecordTheAccessIsAWarningAndAVanishedEntryIsNot() throws {
        let fixture = try Fixture()
        let f = fixture.memory.cache(name: "f") { (x: Int) -> Int in x * 2 }
        let shelved = try f.callAndShelve(3)
        let output = FilePath(fixture.output("f", try #require(shelved.argumentHash)))

        let warnings = WarningLog()
        shelved.recordAccess(output, warn: warnings.handler) { path throws(SystemError) in
            throw SystemError("utimensat", path: path.string, errno: .readOnlyFileSystem)
        }
        #expect(warnings.codes == [.accessTimeNotUpdated])
        #expect((warnings.all.first?.underlying as? SystemError)?.errno == .readOnlyFileSystem)
        #expect(warnings.all.first?.path == output.string)

        let quiet = WarningLog()
        shelved.recordAccess(output, warn: quiet.handler) { path throws(SystemError) in
            throw SystemError("utimensat", path: path.string, errno: .noSuchFileOrDirectory)
        }
        #expect(quiet.all.isEmpty)
    }
}
