import Foundation
@testable import JoblibMemory
import JoblibSystem
import SystemPackage
import Testing

/// `<function>/.metadata-sizes` (MetadataSizeIndex.swift): used by a new process's first scan,
/// never trusted for an entry whose output changed, rebuilt when missing or damaged.
@Suite("Memory: the on-disk index of metadata sizes")
struct SizeIndexTests {
    func tenEntries(_ fixture: Fixture) throws -> CachedFunction<Int, [Int]> {
        let f = fixture.memory.cache(name: "f") { (x: Int) -> [Int] in Array(0..<x) }
        for x in 0..<10 { _ = try f(x) }
        return f
    }

    func indexPath(_ fixture: Fixture) -> String { "\(fixture.path)/joblib/f/\(MetadataSizeIndex.fileName)" }

    func total(_ memory: Memory) throws -> Int { try memory.store!.scanEntries().reduce(0) { $0 + $1.size } }

    @Test func aScanWritesTheIndexAndANewMemoryUsesIt() throws {
        let fixture = try Fixture()
        _ = try tenEntries(fixture)
        let expected = try total(fixture.memory)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: indexPath(fixture))))
        var records = try #require(bytes.withUnsafeBytes(MetadataSizeIndex.parse))
        #expect(records.count == 10)
        #expect(try total(Memory(location: fixture.directory.path, verbose: 0)) == expected)

        // Proof that a fresh scan takes sizes from the index (not from metadata.json): a record
        // altered by 1,000 bytes, for an entry whose output is unchanged, is what gets counted.
        let key = try #require(records.keys.first)
        records[key]!.size += 1_000
        try Data(MetadataSizeIndex.encode(records)).write(to: URL(fileURLWithPath: indexPath(fixture)))
        #expect(try total(Memory(location: fixture.directory.path, verbose: 0)) == expected + 1_000)
    }

    /// An index that disagrees with this process's records is rewritten, although none of its
    /// records missed: entry 3 was replaced (this process's record of it misses, so the index
    /// is read, and the index knows the new entry), and the index's record of entry 5 names
    /// another directory than the one this process's own record (used for it) saw.
    @Test func anIndexThatDisagreesWithThisProcessIsRewritten() throws {
        let fixture = try Fixture()
        let f = try tenEntries(fixture)
        _ = try total(fixture.memory)  // this process now has records of all ten entries
        let directory = FilePath("\(fixture.path)/joblib/f")
        try fixture.memory.store!.discard(directory.appending(try #require(try f.callAndShelve(3).argumentHash)))
        _ = try f(3)
        _ = try total(Memory(location: fixture.directory.path, verbose: 0))  // its index knows the new entry 3
        var records = MetadataSizeIndex.read(directory)
        #expect(records.count == 10)
        var info = stat()
        #expect(stat(directory.appending(try #require(try f.callAndShelve(5).argumentHash)).string, &info) == 0)
        let key = try #require(records.first { $0.value.directoryInode == UInt64(info.st_ino) }?.key)
        records[key]!.directoryInode &+= 1_000_000
        try MetadataSizeIndex.write(records.map { (key: $0.key, record: $0.value) }, to: directory)

        _ = try total(fixture.memory)
        let rewritten = MetadataSizeIndex.read(directory)
        #expect(rewritten.count == 10)
        #expect(rewritten[key]?.directoryInode == UInt64(info.st_ino), "the disagreeing index was kept")
    }

    @Test func aRecordOfAReplacedOutputIsNotUsed() throws {
        let fixture = try Fixture()
        let f = try tenEntries(fixture)
        let expected = try total(fixture.memory)
        let entry = "\(fixture.path)/joblib/f/\(try #require(try f.callAndShelve(3).argumentHash))"
        let metadata = try String(contentsOfFile: entry + "/metadata.json", encoding: .utf8)
        try FileManager.default.removeItem(atPath: entry + "/metadata.json")
        try (metadata + String(repeating: " ", count: 100)).write(toFile: entry + "/metadata.json", atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -60)], ofItemAtPath: entry + "/output.joblib")
        #expect(try total(Memory(location: fixture.directory.path, verbose: 0)) == expected + 100)
    }

    @Test(arguments: ["garbage", "truncated", "flipped", "empty"])
    func aDamagedIndexIsIgnoredAndRebuilt(damage: String) throws {
        let fixture = try Fixture()
        _ = try tenEntries(fixture)
        let expected = try total(fixture.memory)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: indexPath(fixture)))
        switch damage {
        case "garbage": bytes = Data("not an index".utf8)
        case "truncated": bytes = bytes.prefix(bytes.count - 7)
        case "flipped": bytes[30] ^= 0x40
        default: bytes = Data()
        }
        try bytes.write(to: URL(fileURLWithPath: indexPath(fixture)))
        let warnings = WarningLog()
        let fresh = Memory(location: fixture.directory.path, verbose: 0, onWarning: warnings.handler)
        try fresh.reduceSize(bytesLimit: .gigabytes(1))
        #expect(try total(fresh) == expected)
        let rebuilt = try [UInt8](Data(contentsOf: URL(fileURLWithPath: indexPath(fixture))))
        #expect(rebuilt.withUnsafeBytes(MetadataSizeIndex.parse)?.count == 10)
        #expect(warnings.all.isEmpty)
    }

    @Test func evictedEntriesLeaveTheIndex() throws {
        let fixture = try Fixture()
        _ = try tenEntries(fixture)
        try fixture.memory.reduceSize(itemsLimit: 4)
        // This Memory knows every remaining entry; a new one finds records of removed ones and rewrites.
        try Memory(location: fixture.directory.path, verbose: 0).reduceSize(bytesLimit: .gigabytes(1))
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: indexPath(fixture))))
        #expect(bytes.withUnsafeBytes(MetadataSizeIndex.parse)?.count == 4)
    }

    @Test func anIndexThatCannotBeSavedIsAWarningAndEvictionGoesOn() throws {
        let fixture = try Fixture()
        let f = try tenEntries(fixture)
        // A directory where the index belongs: reading it fails, and so does renaming a file over it.
        try FileManager.default.createDirectory(atPath: indexPath(fixture), withIntermediateDirectories: false)
        try fixture.memory.reduceSize(itemsLimit: 5)
        #expect(fixture.warnings.codes == [.sizeIndexNotSaved])
        #expect(try (0..<10).filter { try f.checkCallInCache($0) }.count == 5)
    }
}
