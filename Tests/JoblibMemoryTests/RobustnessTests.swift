import Foundation
import JoblibMemory
import JoblibTestSupport
import SystemPackage
import Testing

@Suite("Memory: corruption, failures to write, several processes", .timeLimit(.minutes(2)))
struct RobustnessTests {
    @Test(arguments: ["truncate", "flip", "empty", "missingOutput"])
    func corruptEntriesAreRecomputedWithAWarning(damage: String) throws {
        let fixture = try Fixture()
        let counter = CallCounter()
        let f = fixture.memory.cache(name: "f") { (x: Int) -> [Double] in counter.tick(); return Array(repeating: Double(x), count: 2_000) }
        _ = try f(3)
        let entry = try #require(fixture.entries("f").first)
        let output = fixture.output("f", entry)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: output))
        switch damage {
        case "truncate": bytes = bytes.prefix(bytes.count / 2)
        case "flip": bytes[bytes.count - 100] ^= 0xFF
        case "empty": bytes = Data()
        default: break
        }
        if damage == "missingOutput" {
            try FileManager.default.removeItem(atPath: output)
        } else {
            try bytes.write(to: URL(fileURLWithPath: output))
        }
        #expect(try f(3) == Array(repeating: 3, count: 2_000))
        #expect(counter.value == 2)
        if damage != "missingOutput" {
            #expect(fixture.warnings.codes == [.corruptEntry])
        }
        // The entry was replaced by a good one.
        #expect(try f(3) == Array(repeating: 3, count: 2_000))
        #expect(counter.value == 2)
        #expect(fixture.entries("f") == [entry])
        #expect(fixture.allNames("f").filter { $0.hasPrefix(".") && $0 != ".locks" }.isEmpty)
    }

    @Test func wrongTypeInAnEntryIsRecomputed() throws {
        let fixture = try Fixture()
        _ = try fixture.memory.cache(name: "shared") { (x: Int) -> String in "text" }(1)
        let counter = CallCounter()
        let asInt = fixture.memory.cache(name: "shared") { (x: Int) -> Int in counter.tick(); return 5 }
        #expect(try asInt(1) == 5)
        #expect(counter.value == 1)
        #expect(fixture.warnings.codes == [.corruptEntry])
    }

    /// Tests run as root here, so `chmod` cannot make a directory unwritable. Two failures that
    /// stop root too: the location is a regular file (mkdir below it fails with ENOTDIR), and the
    /// location is under /proc (mkdir fails with ENOENT).
    @Test(arguments: ["file", "proc"])
    func unwritableLocationStillReturnsValuesAndWarns(kind: String) throws {
        let directory = try Fixture()
        let location: String
        if kind == "file" {
            location = directory.path + "/not-a-directory"
            try Data("x".utf8).write(to: URL(fileURLWithPath: location))
        } else {
            location = "/proc/self/no-such-cache"
        }
        let warnings = WarningLog()
        let memory = Memory(location: location, verbose: 0, onWarning: warnings.handler)
        let counter = CallCounter()
        let f = memory.cache(name: "f") { (x: Int) -> Int in counter.tick(); return x * 2 }
        #expect(try f(21) == 42)
        #expect(try f(21) == 42)
        #expect(counter.value == 2)
        #expect(warnings.codes.contains(.writeFailed))
        #expect(warnings.codes.filter { $0 == .writeFailed }.count == 2)
        let shelved = try f.callAndShelve(1)
        #expect(try shelved.get() == 2)
    }

    @Test func callAndShelveReferenceLoadsLaterAndAfterClearFails() throws {
        let fixture = try Fixture()
        let counter = CallCounter()
        let f = fixture.memory.cache(name: "slowSquare") { (x: Int) -> [Int] in counter.tick(); return [x * x, x] }
        let shelved = try f.callAndShelve(4)
        let copy = try JSONDecoder().decode(MemorizedResult<[Int]>.self, from: JSONEncoder().encode(shelved))
        #expect(try copy.get() == [16, 4])
        #expect(counter.value == 1)
        #expect(try f(4) == [16, 4])
        #expect(counter.value == 1)
        try copy.clear()
        #expect { try shelved.get() } throws: { ($0 as? MemoryError)?.code == .notInCache }
    }

    @Test(.timeLimit(.minutes(1)))
    func callAndShelveAcrossProcesses() throws {
        let fixture = try Fixture()
        // Shelved by another process, loaded here.
        let shelve = try TestSupport.run(TestSupport.helperExecutable, ["memory-shelve", fixture.path, "9"])
        #expect(shelve.status == 0)
        let json = shelve.output.trimmingCharacters(in: .whitespacesAndNewlines)
        let reference = try JSONDecoder().decode(MemorizedResult<[Int]>.self, from: Data(json.utf8))
        #expect(try reference.get() == [81, 9])
        // Shelved here, loaded by another process.
        let f = fixture.memory.cache(name: "slowSquare") { (x: Int) -> [Int] in [x * x, x] }
        let mine = String(decoding: try JSONEncoder().encode(try f.callAndShelve(5)), as: UTF8.self)
        let get = try TestSupport.run(TestSupport.helperExecutable, ["memory-get", mine])
        #expect(get.status == 0)
        #expect(get.output.trimmingCharacters(in: .whitespacesAndNewlines) == "[25, 5]")
        try f.clear()
        let gone = try TestSupport.run(TestSupport.helperExecutable, ["memory-get", mine])
        #expect(gone.status == 1)
        #expect(gone.output.contains("notInCache"))
    }

    @Test(.timeLimit(.minutes(1)))
    func concurrentWritersFromSeveralProcessesLeaveOneValidEntry() throws {
        let fixture = try Fixture()
        let processes = 6
        // All start at once and compute the same key (each sleeps 300 ms inside the function),
        // so their renames race: computing once across processes is off here (`nowait`).
        let results = try (0..<processes).map { _ -> Process in
            let process = Process()
            process.executableURL = TestSupport.helperExecutable
            process.arguments = ["memory-compute", fixture.path, "12", "300", "nowait"]
            process.standardOutput = Pipe()
            try process.run()
            return process
        }.map { process -> (Int32, String) in
            let data = (process.standardOutput as! Pipe).fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: data, as: UTF8.self))
        }
        for (status, output) in results {
            #expect(status == 0)
            #expect(output.trimmingCharacters(in: .whitespacesAndNewlines) == "[144, 12]")
        }
        let log = try String(contentsOfFile: fixture.path + "/computations.log", encoding: .utf8)
        #expect(log.split(separator: "\n").count >= 2, "the processes did overlap")
        #expect(fixture.entries("slowSquare").count == 1)
        #expect(fixture.allNames("slowSquare").filter { $0.hasPrefix(".tmp") || $0.hasPrefix(".trash") }.isEmpty)
        // The entry is valid: a later process hits it without computing.
        let again = try TestSupport.run(TestSupport.helperExecutable, ["memory-call", fixture.path, "12", "0"])
        #expect(again.output.trimmingCharacters(in: .whitespacesAndNewlines) == "[144, 12]")
        let after = try String(contentsOfFile: fixture.path + "/computations.log", encoding: .utf8)
        #expect(after == log)
        #expect(fixture.warnings.all.isEmpty)
    }

    /// Hits open the entry relative to the function directory kept open; when another Memory
    /// (another process) clears the cache and writes again, the new entries are found, and
    /// cleared ones are not returned.
    @Test func entriesAreFoundAfterAnotherMemoryClearsAndRewrites() throws {
        let fixture = try Fixture()
        let counter = CallCounter()
        let f = fixture.memory.cache(name: "f") { (x: Int) -> Int in counter.tick(); return x * 2 }
        #expect(try f(1) == 2)
        #expect(try f(1) == 2)  // a hit: the directory is now open
        #expect(counter.value == 1)

        let other = Memory(location: FilePath(fixture.path), verbose: 0, onWarning: fixture.warnings.handler)
        let otherCounter = CallCounter()
        let g = other.cache(name: "f") { (x: Int) -> Int in otherCounter.tick(); return x * 2 }
        try other.clear()
        #expect(try g(2) == 4)  // written into a new function directory
        #expect(otherCounter.value == 1)

        #expect(try f(2) == 4)  // found there, not recomputed
        #expect(counter.value == 1)
        #expect(try f(1) == 2)  // cleared: recomputed
        #expect(counter.value == 2)
        #expect(try f(1) == 2)
        #expect(counter.value == 2)

        try f.clear()  // this function's own clear
        #expect(try f(2) == 4)
        #expect(counter.value == 3)
        #expect(fixture.warnings.all.isEmpty)
    }

    /// The function directory a process keeps open is renamed away (by hand, or by a clear
    /// elsewhere whose removal stopped half-way) with its entries, and another directory takes
    /// its path: hits go to the directory at the path again within the recheck interval, never
    /// staying on the renamed one although it still holds the entry.
    @Test func aFunctionDirectoryReplacedByRenameIsLeft() throws {
        let fixture = try Fixture()
        let counter = CallCounter()
        let f = fixture.memory.cache(name: "f") { (x: Int) -> Int in counter.tick(); return x * 2 }
        #expect(try f(1) == 2)
        #expect(try f(1) == 2)  // a hit: the directory is now open
        let entry = try #require(fixture.entries("f").first)
        try FileManager.default.moveItem(atPath: fixture.path + "/joblib/f", toPath: fixture.path + "/joblib/f-renamed")

        // Nothing at the path: after the interval the call computes and stores there.
        Thread.sleep(forTimeInterval: 0.25)
        #expect(try f(1) == 2)
        #expect(counter.value == 2)
        #expect(fixture.entries("f") == [entry])

        // Replaced again, by a directory whose entry for the same key holds another result (a
        // function of the same name and version elsewhere): that result is what a hit returns.
        try FileManager.default.moveItem(atPath: fixture.path + "/joblib/f", toPath: fixture.path + "/joblib/f-renamed-2")
        let other = Memory(location: FilePath(fixture.path), verbose: 0, onWarning: fixture.warnings.handler)
        let g = other.cache(name: "f") { (x: Int) -> Int in x * 3 }
        #expect(try g(1) == 3)
        Thread.sleep(forTimeInterval: 0.25)
        #expect(try f(1) == 3)
        #expect(try f(1) == 3)
        #expect(counter.value == 2)
        #expect(FileManager.default.fileExists(atPath: fixture.path + "/joblib/f-renamed-2/\(entry)/output.joblib"))
        #expect(fixture.warnings.all.isEmpty)
    }
}
