import Foundation
import JoblibCoding
@testable import JoblibMemory
import JoblibSystem
import SystemPackage
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The hit path's shortcuts (CacheLayout.md, "Times"): an entry this process knows was accessed
/// recently is read without its status, and nothing of what that skips weakens a guarantee.
@Suite("Memory: the hit path", .timeLimit(.minutes(1)))
struct HitPathTests {
    func lastAccess(_ output: String) throws -> Double { try #require(try fileStatus(FilePath(output))).accessTime }

    /// Hits on an entry this process wrote read no status (an injected `fstat` failure is never
    /// used) and leave its access time alone; once the record is gone (what passing
    /// `accessTimeResolution` does) a hit reads the status again and sets an old access time.
    @Test func recentEntriesAreReadWithoutStatus() throws {
        let fixture = try Fixture()
        let counter = CallCounter()
        let f = fixture.memory.cache(name: "f") { (x: Int) -> Int in counter.tick(); return x * 2 }
        _ = try f(1)
        let output = fixture.output("f", try #require(fixture.entries("f").first))
        try age(output, accessedSecondsAgo: 3_600)
        let failures = InjectedSystemCallFailures([("fstat", .ioError)])
        for _ in 0..<3 { #expect(try failures.during { try f(1) } == 2) }
        #expect(failures.injectedCount == 0, "a hit on a recent entry made an fstat")
        // Set back by hand, behind the record's back: not seen until the record ages.
        #expect(abs(try lastAccess(output) - (Date().timeIntervalSince1970 - 3_600)) < 60)

        fixture.memory.store!.accessRecords.removeAll()
        #expect(try f(1) == 2)
        #expect(abs(try lastAccess(output) - Date().timeIntervalSince1970) < 60)
        #expect(counter.value == 1)
        #expect(fixture.warnings.all.isEmpty)
        // That hit recorded its touch: the next reads no status again.
        let quiet = InjectedSystemCallFailures([("fstat", .ioError)])
        _ = try quiet.during { try f(1) }
        #expect(quiet.injectedCount == 0)
        // Without a record, the status is read (the injected failure is then a corrupt entry).
        fixture.memory.store!.accessRecords.removeAll()
        let checked = InjectedSystemCallFailures([("fstat", .ioError)])
        _ = try checked.during { try f(1) }
        #expect(checked.injectedCount == 1, "a hit without a record read no status")
        #expect(fixture.warnings.codes == [.corruptEntry])
    }

    /// The records: recent within the interval only, a later record replaces an earlier one of
    /// the same key, and a full set forgets its oldest record, not the others.
    @Test func accessRecordsKeepTheNewestOfEachSet() {
        let records = AccessRecords()
        let key = HashDigest(high: 1, low: 0x0000_0007_0000_0001)
        #expect(!records.isRecent(key, within: 10, now: 1_000))
        records.record(key, accessedAfter: 995)
        #expect(records.isRecent(key, within: 10, now: 1_000))
        #expect(!records.isRecent(key, within: 10, now: 1_006))
        records.record(key, accessedAfter: 1_005)
        #expect(records.isRecent(key, within: 10, now: 1_006))
        #expect(!records.isRecent(HashDigest(high: 1, low: 0x0000_0008_0000_0001), within: 10, now: 1_006))

        // Five keys of one set (same bits 32 and up of the low half): the oldest goes.
        let set = (0..<5).map { HashDigest(high: 0, low: 0x0000_0009_0000_0000 | UInt64($0 + 1)) }
        for (index, member) in set.enumerated() { records.record(member, accessedAfter: 2_000 + Double(index)) }
        #expect(!records.isRecent(set[0], within: 10, now: 2_005))
        for member in set.dropFirst() { #expect(records.isRecent(member, within: 10, now: 2_005)) }
        records.removeAll()
        #expect(!records.isRecent(set[4], within: 10, now: 2_005))
    }

    /// `expiresAfter` needs the output's modification time: every hit reads the status.
    @Test func expiringFunctionsReadTheStatus() throws {
        let fixture = try Fixture()
        let f = fixture.memory.cache(name: "f", expiresAfter: .seconds(3_600)) { (x: Int) -> Int in x * 2 }
        _ = try f(1)
        let failures = InjectedSystemCallFailures([("fstat", .ioError)])
        _ = try failures.during { try f(1) }
        #expect(failures.injectedCount == 1)
    }

    /// A FIFO, a directory or a device put where an output this process has just hit belongs is
    /// still a corrupt entry: reported, recomputed and replaced, never a blocked call.
    @Test(arguments: ["fifo", "directory", "null", "zero", "truncated"])
    func specialFilesAfterAHitAreCorruptEntries(kind: String) throws {
        let fixture = try Fixture()
        let counter = CallCounter()
        let f = fixture.memory.cache(name: "f") { (x: Int) -> [Double] in counter.tick(); return [Double(x)] }
        _ = try f(1)
        #expect(try f(1) == [1])
        let output = fixture.output("f", try #require(fixture.entries("f").first))
        let bytes = try Data(contentsOf: URL(fileURLWithPath: output))
        try FileManager.default.removeItem(atPath: output)
        switch kind {
        case "fifo": #expect(mkfifo(output, 0o644) == 0)
        case "directory": try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: false)
        case "truncated": try bytes.prefix(bytes.count - 9).write(to: URL(fileURLWithPath: output))
        default: #expect(symlink("/dev/\(kind)", output) == 0)
        }
        #expect(try f(1) == [1])
        #expect(counter.value == 2)
        #expect(fixture.warnings.codes == [.corruptEntry])
        #expect(try f(1) == [1])
        #expect(counter.value == 2)
    }

    /// No value is kept: an entry another Memory (as another process would) replaced with another
    /// result is what the next hit returns, and one it removed is computed again.
    @Test func entriesReplacedElsewhereAreReadAgain() throws {
        let fixture = try Fixture()
        let counter = CallCounter()
        let f = fixture.memory.cache(name: "f") { (x: Int) -> Int in counter.tick(); return x * 2 }
        #expect(try f(1) == 2)
        #expect(try f(1) == 2)
        let other = Memory(location: FilePath(fixture.path), verbose: 0)
        let g = other.cache(name: "f") { (x: Int) -> Int in x * 3 }
        try g.clear()
        #expect(try g(1) == 3)
        #expect(try f(1) == 3)
        try g.clear()
        #expect(try f(1) == 2)
        #expect(counter.value == 2)
    }

    /// After taking a key's lock, the re-check goes through the open function directory only
    /// while it is confirmed, as hits do: a directory renamed away (still holding the entry) and
    /// replaced by an empty one is left, so the caller computes instead of taking the old result.
    @Test func theRecheckAfterTheLockLeavesAReplacedDirectory() throws {
        let fixture = try Fixture()
        let f = fixture.memory.cache(name: "f") { (x: Int) -> Int in x * 2 }
        _ = try f(1)
        _ = try f(1)  // a hit: the function directory is open
        let other = Memory(location: FilePath(fixture.path), verbose: 0)
        _ = try other.cache(name: "f") { (x: Int) -> Int in x * 2 }(2)
        try FileManager.default.moveItem(atPath: fixture.path + "/joblib/f", toPath: fixture.path + "/joblib/f-renamed")
        try FileManager.default.createDirectory(atPath: fixture.path + "/joblib/f", withIntermediateDirectories: false)
        Thread.sleep(forTimeInterval: 0.25)
        let call = try #require(try f.core.prepare([2]))
        switch try f.core.beginComputation(call, as: Int.self, replace: false) {
        case .found(let value):
            Issue.record("found \(value) in the directory renamed away")
        case .compute(let lock, _):
            #expect(lock != nil)
            lock?.release()
        }
    }
}
