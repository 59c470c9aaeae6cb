import Foundation
import JoblibCoding
@testable import JoblibMemory
import JoblibSystem
import SystemPackage
import Testing

/// `CacheStore.sizes()`, the count `reduceSize` makes before it needs access times: entries
/// whose directory a record knows (same name, same inode) are counted from the record without
/// a stat; anything else (new entries, replaced ones, records of entries that are gone) is found
/// as by a full scan, so a stale index never hides an entry nor evicts the wrong one.
@Suite("Memory: counting sizes without access times")
struct SizeCountTests {
    func entries(_ fixture: Fixture, _ range: Range<Int>) throws -> CachedFunction<Int, [Int]> {
        let f = fixture.memory.cache(name: "f") { (x: Int) -> [Int] in Array(0..<(x * 10)) }
        for x in range { _ = try f(x) }
        return f
    }

    func indexPath(_ fixture: Fixture) -> String { "\(fixture.path)/joblib/f/\(MetadataSizeIndex.fileName)" }

    func fresh(_ fixture: Fixture) -> Memory { Memory(location: fixture.directory.path, verbose: 0) }

    func fullTotal(_ fixture: Fixture) throws -> (entries: Int, bytes: Int) {
        let entries = try fresh(fixture).store!.scanEntries()
        return (entries.count, entries.reduce(0) { $0 + $1.size })
    }

    func records(_ fixture: Fixture) throws -> [MetadataSizes.Key: MetadataSizes.Known] {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: indexPath(fixture))))
        return try #require(bytes.withUnsafeBytes(MetadataSizeIndex.parse))
    }

    @Test func aKnownEntryIsCountedFromItsRecordAndAFullScanStillStats() throws {
        let fixture = try Fixture()
        _ = try entries(fixture, 0..<10)
        let expected = try fullTotal(fixture)
        #expect(try fixture.memory.store!.sizes().bytes == expected.bytes)
        // Proof that the count reads the record, not the output: a record 1,000 bytes too large
        // (its directory unchanged) is what a new process counts; its full scan stats the output.
        var altered = try records(fixture)
        let key = try #require(altered.keys.first)
        altered[key]!.outputSize += 1_000
        try Data(MetadataSizeIndex.encode(altered)).write(to: URL(fileURLWithPath: indexPath(fixture)))
        let counted = try fresh(fixture).store!.sizes()
        #expect(counted.entries == 10)
        #expect(counted.bytes == expected.bytes + 1_000)
        #expect(try fullTotal(fixture).bytes == expected.bytes)
    }

    @Test func entriesTheIndexDoesNotKnowAreCountedAndRecorded() throws {
        let fixture = try Fixture()
        _ = try entries(fixture, 0..<5)
        try fixture.memory.reduceSize(bytesLimit: .gigabytes(1))
        let oldIndex = try Data(contentsOf: URL(fileURLWithPath: indexPath(fixture)))
        // Five more entries from another process, which leaves the index as it was.
        let other = Memory(location: fixture.directory.path, verbose: 0)
        let g = other.cache(name: "f") { (x: Int) -> [Int] in Array(0..<(x * 10)) }
        for x in 5..<10 { _ = try g(x) }
        let expected = try fullTotal(fixture)
        try oldIndex.write(to: URL(fileURLWithPath: indexPath(fixture)))
        let counted = try fresh(fixture).store!.sizes()
        #expect(counted.entries == 10)
        #expect(counted.bytes == expected.bytes)
        #expect(try records(fixture).count == 10)
    }

    @Test func aReplacedEntryDirectoryIsExaminedNotTakenFromItsRecord() throws {
        let fixture = try Fixture()
        let f = try entries(fixture, 0..<10)
        try fixture.memory.reduceSize(bytesLimit: .gigabytes(1))
        let expected = try fullTotal(fixture)
        // The entry of x = 3 replaced by a directory of the same name with a 500-byte larger
        // output, made while the old one exists (as `CacheStore.write` does), so another inode.
        let entry = "\(fixture.path)/joblib/f/\(try #require(try f.callAndShelve(3).argumentHash))"
        let replacement = "\(fixture.path)/joblib/f/.tmp-replacement"
        try FileManager.default.createDirectory(atPath: replacement, withIntermediateDirectories: false)
        let output = try Data(contentsOf: URL(fileURLWithPath: entry + "/output.joblib"))
        try (output + Data(count: 500)).write(to: URL(fileURLWithPath: replacement + "/output.joblib"))
        try FileManager.default.copyItem(atPath: entry + "/metadata.json", toPath: replacement + "/metadata.json")
        try FileManager.default.moveItem(atPath: entry, toPath: entry + "-old")
        try FileManager.default.moveItem(atPath: replacement, toPath: entry)
        try FileManager.default.removeItem(atPath: entry + "-old")
        // This process's records and the index's both name the old directory.
        #expect(try fixture.memory.store!.sizes().bytes == expected.bytes + 500)
        #expect(try fresh(fixture).store!.sizes().bytes == expected.bytes + 500)
    }

    @Test func recordsOfRemovedEntriesAreNotCountedAndLeaveTheIndex() throws {
        let fixture = try Fixture()
        let f = try entries(fixture, 0..<10)
        try fixture.memory.reduceSize(bytesLimit: .gigabytes(1))
        #expect(try records(fixture).count == 10)
        for x in [1, 4, 7] {
            try FileManager.default.removeItem(atPath: "\(fixture.path)/joblib/f/\(try #require(try f.callAndShelve(x).argumentHash))")
        }
        let counted = try fresh(fixture).store!.sizes()
        #expect(try records(fixture).count == 7)
        #expect(counted.entries == 7)
        #expect(counted.bytes == (try fullTotal(fixture).bytes))
    }

    /// An index written before the new entries, and a limit they break: eviction happens, by
    /// last access (the count decides whether to evict, never what goes).
    @Test func aStaleIndexNeitherHidesNewEntriesNorChangesWhatIsEvicted() throws {
        let fixture = try Fixture()
        let f = try entries(fixture, 0..<6)
        try fixture.memory.reduceSize(bytesLimit: .gigabytes(1))
        let oldIndex = try Data(contentsOf: URL(fileURLWithPath: indexPath(fixture)))
        for x in 6..<10 { _ = try f(x) }
        // Last accessed: x = 9 longest ago, then 8, 7…, x = 0 most recently.
        for x in 0..<10 {
            try age(fixture.output("f", try #require(try f.callAndShelve(x).argumentHash)), accessedSecondsAgo: Double(100 + 60 * x))
        }
        try oldIndex.write(to: URL(fileURLWithPath: indexPath(fixture)))
        try fresh(fixture).reduceSize(itemsLimit: 7)
        #expect(try (0..<10).filter { try f.checkCallInCache($0) } == Array(0..<7))

        try oldIndex.write(to: URL(fileURLWithPath: indexPath(fixture)))
        let total = try fullTotal(fixture).bytes
        try fresh(fixture).reduceSize(bytesLimit: .bytes(total - 1))
        #expect(try (0..<10).filter { try f.checkCallInCache($0) } == Array(0..<6))
    }

    @Test func aFirstVersionIndexIsIgnoredAndReplaced() throws {
        let fixture = try Fixture()
        _ = try entries(fixture, 0..<10)
        let expected = try fullTotal(fixture)
        // JLMSIZE1: 40-byte records (key, output inode, modification time, metadata size), each
        // claiming a metadata size of 1 byte; they must not be used.
        var bytes: [UInt8] = []
        func append(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
        append(MetadataSizeIndex.firstVersionMagic)
        let current = try records(fixture)
        append(UInt64(current.count))
        for (key, record) in current {
            for field in [key.high, key.low, record.outputInode, record.outputModified.bitPattern, 1] { append(field) }
        }
        append(bytes.withUnsafeBytes { xxh3Digest64($0) })
        try Data(bytes).write(to: URL(fileURLWithPath: indexPath(fixture)))
        #expect(bytes.withUnsafeBytes(MetadataSizeIndex.parse) == nil)

        let memory = fresh(fixture)
        try memory.reduceSize(bytesLimit: .gigabytes(1))
        #expect(try memory.store!.sizes().bytes == expected.bytes)
        #expect(try fresh(fixture).store!.sizes().bytes == expected.bytes)
        #expect(try records(fixture).count == 10)
    }
}
