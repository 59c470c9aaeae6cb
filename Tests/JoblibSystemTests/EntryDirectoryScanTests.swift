import Foundation
import SystemPackage
import Testing
@testable import JoblibSystem

/// `scanEntryDirectories`: every entry and its two files' sizes, also when there are enough
/// entries to be statted on two threads (1,024 or more), with some second sizes known already.
@Suite struct EntryDirectoryScanTests {
    static func name(_ index: Int) -> String { String(format: "%016llx%016llx", UInt64(index) * 0x9E37_79B9, UInt64(index)) }

    @Test(arguments: [10, 1_500])
    func everyEntryIsFoundWithItsFileSizes(count: Int) throws {
        try withTemporaryDirectory { directory in
            for index in 0..<count {
                let entry = directory.appending(Self.name(index))
                try makeDirectories(entry)
                try writeNewFile(entry.appending("output.joblib"), String(repeating: "o", count: index % 97))
                // Every seventh entry has no output; every fifth no metadata.
                if index % 7 == 0 { try FileManager.default.removeItem(atPath: entry.appending("output.joblib").string) }
                if index % 5 != 0 { try writeNewFile(entry.appending("metadata.json"), String(repeating: "m", count: index % 89 + 1)) }
            }
            // Not entries: a hidden name, a file with an entry's name, a name of 31 digits.
            try makeDirectories(directory.appending(".tmp-\(Self.name(1))-1-2"))
            try writeNewFile(directory.appending(Self.name(count + 1)), "x")
            try makeDirectories(directory.appending(String(Self.name(count + 2).dropLast())))

            // Second sizes of entries divisible by 3 come from the caller (as 1,000,000 + index).
            let found = try scanEntryDirectories(directory, first: "output.joblib", second: "metadata.json") { entry in
                let index = Int(entry.low)
                return index % 3 == 0 && entry.first != nil ? 1_000_000 + index : nil
            }
            #expect(found.count == count)
            var seen = Set<Int>()
            for entry in found {
                let index = Int(entry.low)
                #expect(entry.name == Self.name(index))
                seen.insert(index)
                if index % 7 == 0 {
                    #expect(entry.first == nil)
                } else {
                    #expect(entry.first?.size == index % 97)
                }
                let expectedSecond = index % 3 == 0 && index % 7 != 0 ? 1_000_000 + index : (index % 5 != 0 ? index % 89 + 1 : 0)
                #expect(entry.secondSize == expectedSecond, "entry \(index)")
            }
            #expect(seen == Set(0..<count))
        }
    }

    /// Entries `skip` exempts are listed (with their inode) but none of their files is stat-ed.
    @Test(arguments: [10, 1_500])
    func skippedEntriesAreListedButNotExamined(count: Int) throws {
        try withTemporaryDirectory { directory in
            var inodes: [Int: UInt64] = [:]
            for index in 0..<count {
                let entry = directory.appending(Self.name(index))
                try makeDirectories(entry)
                try writeNewFile(entry.appending("output.joblib"), String(repeating: "o", count: index % 97 + 1))
                try writeNewFile(entry.appending("metadata.json"), "m")
                let attributes = try FileManager.default.attributesOfItem(atPath: entry.string)
                inodes[index] = try #require((attributes[.systemFileNumber] as? NSNumber)?.uint64Value)
            }
            let found = try scanEntryDirectories(directory, first: "output.joblib", second: "metadata.json", skip: { Int($0.low) % 2 == 0 })
            #expect(found.count == count)
            for entry in found {
                let index = Int(entry.low)
                #expect(entry.inode == inodes[index])
                if index % 2 == 0 {
                    #expect(!entry.examined && entry.first == nil && entry.secondSize == 0, "entry \(index)")
                } else {
                    #expect(entry.examined && entry.first?.size == index % 97 + 1 && entry.secondSize == 1, "entry \(index)")
                }
            }
            #expect(Set(found.map { Int($0.low) }) == Set(0..<count))
        }
    }
}
