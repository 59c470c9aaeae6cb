import Foundation
@testable import JoblibMemory
import Testing

@Suite("Memory: eviction and verbose output")
struct EvictionTests {
    /// Five entries of `f`, last accessed 50, 40, 30, 20 and 10 minutes ago (x = 0 is the oldest).
    func fiveAgedEntries(_ fixture: Fixture) throws -> CachedFunction<Int, [Double]> {
        let f = fixture.memory.cache(name: "f") { (x: Int) -> [Double] in Array(repeating: Double(x), count: 1_000) }
        for x in 0..<5 {
            let shelved = try f.callAndShelve(x)
            try age(fixture.output("f", try #require(shelved.argumentHash)), accessedSecondsAgo: Double(50 - 10 * x) * 60)
        }
        return f
    }

    func cached(_ f: CachedFunction<Int, [Double]>) throws -> [Int] {
        try (0..<5).filter { try f.checkCallInCache($0) }
    }

    @Test func itemsLimitKeepsTheMostRecentlyUsed() throws {
        let fixture = try Fixture()
        let f = try fiveAgedEntries(fixture)
        _ = try f(0)  // a hit makes the oldest the most recent
        try fixture.memory.reduceSize(itemsLimit: 2)
        #expect(try cached(f) == [0, 4])
    }

    @Test func bytesLimitRemovesOldestUntilUnder() throws {
        let fixture = try Fixture()
        let f = try fiveAgedEntries(fixture)
        let entrySize = try fixture.memory.store!.scanEntries().map(\.size).max()!
        try fixture.memory.reduceSize(bytesLimit: .bytes(entrySize * 3))
        #expect(try cached(f) == [2, 3, 4])
        try fixture.memory.reduceSize(bytesLimit: .bytes(entrySize * 3))
        #expect(try cached(f) == [2, 3, 4])  // already under: nothing more goes
        try fixture.memory.reduceSize(bytesLimit: .bytes(0))
        #expect(try cached(f).isEmpty)
    }

    @Test func ageLimitRemovesEntriesNotUsedRecently() throws {
        let fixture = try Fixture()
        let f = try fiveAgedEntries(fixture)
        try fixture.memory.reduceSize(ageLimit: .seconds(25 * 60))
        #expect(try cached(f) == [3, 4])
    }

    @Test func limitsCombineAndNegativeOnesAreRejected() throws {
        let fixture = try Fixture()
        let f = try fiveAgedEntries(fixture)
        try fixture.memory.reduceSize(bytesLimit: .gigabytes(1), itemsLimit: 4, ageLimit: .seconds(35 * 60))
        #expect(try cached(f) == [2, 3, 4])
        #expect { try fixture.memory.reduceSize(itemsLimit: -1) } throws: { ($0 as? MemoryError)?.code == .invalidArgument }
        #expect { try fixture.memory.reduceSize(ageLimit: .seconds(-1)) } throws: { ($0 as? MemoryError)?.code == .invalidArgument }
    }

    @Test func automaticBytesLimitIsEnforcedAfterWrites() throws {
        let probe = try Fixture()
        _ = try probe.memory.cache(name: "f") { (x: Int) -> [Double] in Array(repeating: Double(x), count: 1_000) }(0)
        let entrySize = try probe.memory.store!.scanEntries()[0].size
        let limit = entrySize * 5 + entrySize / 2
        let fixture = try Fixture(bytesLimit: .bytes(limit))
        let f = fixture.memory.cache(name: "f") { (x: Int) -> [Double] in Array(repeating: Double(x), count: 1_000) }
        for x in 0..<20 {
            _ = try f(x)
            let total = try fixture.memory.store!.scanEntries().reduce(0) { $0 + $1.size }
            #expect(total <= limit, "after writing entry \(x)")
        }
        #expect(try f.checkCallInCache(19))
        #expect(try !f.checkCallInCache(0))
        #expect(fixture.warnings.all.isEmpty)
    }

    /// A hit sets an access time older than `accessTimeResolution`, here by a Memory with no
    /// record of the entry, as another process (HitPathTests: the writer's own hits).
    @Test func hitsUpdateTheAccessTimeCheaply() throws {
        let fixture = try Fixture()
        let f = fixture.memory.cache(name: "f") { (x: Int) -> Int in x }
        _ = try f(1)
        let output = fixture.output("f", try #require(fixture.entries("f").first))
        try age(output, accessedSecondsAgo: 3_600)
        _ = try Memory(location: fixture.directory.path, verbose: 0).cache(name: "f") { (x: Int) -> Int in x }(1)
        let entry = try #require(try fixture.memory.store!.scanEntries().first)
        #expect(abs(entry.lastAccess - Date().timeIntervalSince1970) < 60)
    }

    @Test func verboseTimesAreFormattedAsJoblibDoes() {
        #expect(VerboseLog.format(1.23) == "1.2s, 0.0min")
        #expect(VerboseLog.format(90) == "90.0s, 1.5min")
        #expect(CacheStore.directoryName("my func/v2") == "my%20func%2Fv2")
        #expect(CacheStore.directoryName("..") == "%2E.")
    }

    /// Later scans reuse the metadata sizes an earlier scan saw (one stat per entry), and count
    /// the same bytes as a first scan; a replaced entry's metadata is stat-ed again.
    @Test func repeatedScansCountTheSameBytes() throws {
        let fixture = try Fixture()
        let f = fixture.memory.cache(name: "f") { (x: Int) -> [Int] in Array(0..<x) }
        for x in 0..<10 { _ = try f(x) }
        let first = try fixture.memory.store!.scanEntries().map(\.size).sorted()
        let again = try fixture.memory.store!.scanEntries().map(\.size).sorted()
        let fresh = try Memory(location: fixture.directory.path, verbose: 0).store!.scanEntries().map(\.size).sorted()
        #expect(first == again)
        #expect(first == fresh)

        // Replace entry 3 by hand with a longer metadata file and a new output: seen at once.
        let shelved = try f.callAndShelve(3)
        let entry = "\(fixture.path)/joblib/f/\(try #require(shelved.argumentHash))"
        let metadata = try String(contentsOfFile: entry + "/metadata.json", encoding: .utf8)
        let output = try Data(contentsOf: URL(fileURLWithPath: entry + "/output.joblib"))
        try FileManager.default.removeItem(atPath: entry + "/output.joblib")
        try FileManager.default.removeItem(atPath: entry + "/metadata.json")
        try (metadata + String(repeating: " ", count: 100)).write(toFile: entry + "/metadata.json", atomically: false, encoding: .utf8)
        try output.write(to: URL(fileURLWithPath: entry + "/output.joblib"))
        // A new output file: another inode, or at least another modification time.
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -60)], ofItemAtPath: entry + "/output.joblib")
        let total = { (entries: [EntryInfo]) in entries.reduce(0) { $0 + $1.size } }
        let afterReplace = try total(fixture.memory.store!.scanEntries())
        #expect(afterReplace == first.reduce(0, +) + 100)
        #expect(afterReplace == (try total(Memory(location: fixture.directory.path, verbose: 0).store!.scanEntries())))
    }
}
