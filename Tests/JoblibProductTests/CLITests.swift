import Foundation
import Joblib
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A value with the shapes `inspect` reports: a struct, a string, an NDArray, a large plain
/// array (a section) and a small one (inline).
struct SampleModel: Codable {
    var name: String
    var weights: NDArray<Float>
    var history: [Double]
    var classes: [Int32]
}

func sampleModel(seed: Int = 0) -> SampleModel {
    SampleModel(
        name: "sample-\(seed)", weights: NDArray(shape: [30, 20], (0..<600).map { Float($0 + seed) }),
        history: (0..<1_000).map { Double($0) / 7 }, classes: [1, 2, 3])
}

@Suite(.timeLimit(.minutes(1)))
struct InspectTests {
    @Test func describesAFileAndItsArrays() throws {
        let scratch = try Scratch()
        let file = scratch.path("model.joblib")
        try dump(sampleModel(), to: file)

        let text = try Tool.run("joblib", ["inspect", file])
        #expect(text.status == 0, "stderr: \(text.errors)")
        #expect(text.output.contains("swift-joblib container, format version 2"))
        #expect(text.output.contains("type:        JoblibProductTests.SampleModel"))
        #expect(text.output.contains("compression: none (arrays can be memory-mapped)"))
        #expect(text.output.contains("name: string \"sample-0\""))
        #expect(text.output.contains("weights: ndarray float32 [30, 20]"))
        #expect(text.output.contains("checksums: OK"))

        let run = try Tool.run("joblib", ["inspect", file, "--json"])
        let report = try #require(try json(run.output) as? [String: Any])
        #expect(report["formatVersion"] as? Int == 2)
        #expect(report["typeName"] as? String == "JoblibProductTests.SampleModel")
        #expect(report["checksumsVerified"] as? Bool == true)
        let arrays = try #require(report["arrays"] as? [[String: Any]])
        let byPath = Dictionary(uniqueKeysWithValues: arrays.map { ($0["path"] as! String, $0) })
        #expect(byPath["weights"]?["dtype"] as? String == "float32")
        #expect(byPath["weights"]?["shape"] as? [Int] == [30, 20])
        #expect(byPath["history"]?["shape"] as? [Int] == [1_000])
        #expect(byPath["history"]?["section"] as? Int != nil)
        #expect(byPath["classes"]?["dtype"] as? String == "int32")
        #expect(byPath["classes"]?["section"] == nil || byPath["classes"]?["section"] is NSNull)
        #expect((report["sections"] as? [Any])?.count == 2)
    }

    @Test func namesTheCompression() throws {
        let scratch = try Scratch()
        let file = scratch.path("model.joblib.zst")
        try dump(sampleModel(), to: file)
        let run = try Tool.run("joblib", ["inspect", file])
        #expect(run.status == 0)
        #expect(run.output.contains("compression: zstd"))
        #expect(run.output.contains("cannot be memory-mapped"))
    }

    @Test func reportsADamagedArray() throws {
        let scratch = try Scratch()
        let file = scratch.path("model.joblib")
        try dump(sampleModel(), to: file)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        // Inside the first array section, which starts after the header and its type name.
        let firstSection = (64 + (Int(bytes[12]) | Int(bytes[13]) << 8) + 63) / 64 * 64
        bytes[firstSection + 10] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: file))

        let run = try Tool.run("joblib", ["inspect", file])
        #expect(run.status == 1)
        #expect(run.output.contains("checksums: FAILED for section 0"))
        let jsonRun = try Tool.run("joblib", ["inspect", "--json", file])
        #expect(jsonRun.status == 1)
        #expect((try json(jsonRun.output) as? [String: Any])?["checksumsVerified"] as? Bool == false)
    }

    @Test func reportsADamagedHeader() throws {
        let scratch = try Scratch()
        let file = scratch.path("model.joblib")
        try dump(sampleModel(), to: file)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        bytes[bytes.count - 30] ^= 0x01  // the trailer's checksum
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let run = try Tool.run("joblib", ["inspect", file])
        #expect(run.status == 1)
        #expect(run.errors.contains("cannot inspect \(file)"))
        #expect(run.errors.contains("[checksumMismatch]"))

        try Data(bytes.prefix(200)).write(to: URL(fileURLWithPath: file))
        let cut = try Tool.run("joblib", ["inspect", file])
        #expect(cut.status == 1)
        #expect(cut.errors.contains("[truncated]"))
    }

    @Test func refusesForeignAndMissingFiles() throws {
        let scratch = try Scratch()
        let text = scratch.path("notes.txt")
        try "just some text\n".write(toFile: text, atomically: true, encoding: .utf8)
        let foreign = try Tool.run("joblib", ["inspect", text])
        #expect(foreign.status == 1)
        #expect(foreign.errors.contains("not a swift-joblib container"))
        #expect(foreign.errors.contains("[notOurFile]"))

        let pickle = scratch.path("model.pkl")
        try Data([0x80, 0x04, 0x95, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2E]).write(to: URL(fileURLWithPath: pickle))
        let python = try Tool.run("joblib", ["inspect", pickle])
        #expect(python.status == 1)
        #expect(python.errors.contains("Python pickle"))

        let missing = try Tool.run("joblib", ["inspect", scratch.path("nothing.joblib")])
        #expect(missing.status == 1)
        #expect(missing.errors.contains("no such file"))

        let empty = scratch.path("empty.joblib")
        _ = FileManager.default.createFile(atPath: empty, contents: Data())
        let emptyRun = try Tool.run("joblib", ["inspect", empty])
        #expect(emptyRun.status == 1)
        #expect(emptyRun.errors.contains("empty"))
    }
}

@Suite(.timeLimit(.minutes(1)))
struct HashCommandTests {
    @Test func sameContentSameDigestWhateverTheCompression() throws {
        let scratch = try Scratch()
        try dump(sampleModel(), to: scratch.path("a.joblib"))
        try dump(sampleModel(), to: scratch.path("a.joblib.gz"))
        try dump(sampleModel(seed: 1), to: scratch.path("b.joblib"))
        try "plain\n".write(toFile: scratch.path("plain.txt"), atomically: true, encoding: .utf8)

        let run = try Tool.run("joblib", ["hash", scratch.path("a.joblib"), scratch.path("a.joblib.gz"), scratch.path("b.joblib")])
        #expect(run.status == 0)
        let lines = run.output.split(separator: "\n").map { $0.split(separator: " ", maxSplits: 1) }
        #expect(lines.count == 3)
        #expect(lines.allSatisfy { $0[0].count == 32 })
        #expect(lines[0][0] == lines[1][0])
        #expect(lines[0][0] != lines[2][0])
        #expect(lines[1][1].hasSuffix("a.joblib.gz"))

        let jsonRun = try Tool.run("joblib", ["hash", "--json", scratch.path("a.joblib.gz"), scratch.path("plain.txt")])
        let entries = try #require(try json(jsonRun.output) as? [[String: Any]])
        #expect(entries[0]["container"] as? Bool == true)
        #expect(entries[0]["compression"] as? String == "gzip")
        #expect(entries[0]["digest"] as? String != entries[0]["fileDigest"] as? String)
        #expect(entries[1]["container"] as? Bool == false)
        #expect(entries[1]["digest"] as? String == entries[1]["fileDigest"] as? String)

        let missing = try Tool.run("joblib", ["hash", scratch.path("nope")])
        #expect(missing.status == 1)
        #expect(missing.errors.contains("no such file"))
    }
}

@Suite(.timeLimit(.minutes(1)))
struct CacheCommandTests {
    /// A cache with two functions: `square` with three entries, `label` with one.
    func makeCache(_ scratch: Scratch) throws -> String {
        let location = scratch.path("cache")
        let memory = Memory(location: location, verbose: 0)
        let square = memory.cache(name: "square", version: 2) { (x: Int) in x * x }
        let label = memory.cache(name: "label") { (x: Int, prefix: String) in "\(prefix)\(x)" }
        for x in 1...3 { _ = try square(x) }
        _ = try label(7, "item-")
        return location
    }

    @Test func infoAndList() throws {
        let scratch = try Scratch()
        let location = try makeCache(scratch)

        let info = try Tool.run("joblib", ["cache", "info", location])
        #expect(info.status == 0, "stderr: \(info.errors)")
        #expect(info.output.contains("4 entries"))
        #expect(info.output.contains("2 functions"))
        #expect(info.output.contains("square"))

        let infoJSON = try #require(try json(Tool.run("joblib", ["cache", "info", location, "--json"]).output) as? [String: Any])
        #expect(infoJSON["entries"] as? Int == 4)
        let functions = try #require(infoJSON["functions"] as? [[String: Any]])
        #expect(functions.map { $0["name"] as? String } == ["label", "square"])
        #expect(functions[1]["version"] as? Int == 2)
        #expect(functions[1]["entries"] as? Int == 3)
        #expect((functions[1]["bytes"] as? Int ?? 0) > 0)

        let list = try Tool.run("joblib", ["cache", "list", location, "--function", "label"])
        #expect(list.status == 0)
        #expect(list.output.contains("label (version 0): 1 entry"))
        #expect(list.output.contains("item-"))
        #expect(!list.output.contains("square"))

        let listJSON = try #require(try json(Tool.run("joblib", ["cache", "list", location, "--json"]).output) as? [[String: Any]])
        let squareEntries = try #require(listJSON.first { $0["name"] as? String == "square" }?["entries"] as? [[String: Any]])
        #expect(squareEntries.count == 3)
        #expect(squareEntries.allSatisfy { ($0["key"] as? String)?.count == 32 && $0["duration"] is Double })

        let unknown = try Tool.run("joblib", ["cache", "list", location, "--function", "cube"])
        #expect(unknown.status == 1)
        #expect(unknown.errors.contains("no function named 'cube'"))
    }

    @Test func pruneByCountAndAge() throws {
        let scratch = try Scratch()
        let location = try makeCache(scratch)

        let prune = try Tool.run("joblib", ["cache", "prune", location, "--max-entries", "2"])
        #expect(prune.status == 0, "stderr: \(prune.errors)")
        #expect(prune.output.contains("removed 2 entries"))
        #expect(prune.output.contains("2 left"))

        // Nothing is a week old: an age limit keeps everything.
        let age = try #require(try json(Tool.run("joblib", ["cache", "prune", location, "--max-age", "7d", "--json"]).output) as? [String: Any])
        #expect(age["removedEntries"] as? Int == 0)
        let size = try #require(try json(Tool.run("joblib", ["cache", "prune", location, "--max-size", "0", "--json"]).output) as? [String: Any])
        #expect(size["removedEntries"] as? Int == 2)

        let noLimit = try Tool.run("joblib", ["cache", "prune", location])
        #expect(noLimit.status == 64)
        #expect(noLimit.errors.contains("give at least one limit"))
        let badSize = try Tool.run("joblib", ["cache", "prune", location, "--max-size", "lots"])
        #expect(badSize.status == 64)
    }

    @Test func clearOneFunctionThenAll() throws {
        let scratch = try Scratch()
        let location = try makeCache(scratch)
        let one = try Tool.run("joblib", ["cache", "clear", location, "--function", "square"])
        #expect(one.status == 0)
        #expect(one.output.contains("removed 3 entries"))
        #expect(one.output.contains("1 left"))
        let all = try Tool.run("joblib", ["cache", "clear", location])
        #expect(all.output.contains("removed 1 entry"))
        let info = try #require(try json(Tool.run("joblib", ["cache", "info", location, "--json"]).output) as? [String: Any])
        #expect(info["entries"] as? Int == 0)
    }

    @Test func refusesDirectoriesThatAreNotCaches() throws {
        let scratch = try Scratch()
        try "keep me\n".write(toFile: scratch.path("precious.txt"), atomically: true, encoding: .utf8)
        for command in [["info"], ["list"], ["clear"], ["prune", "--max-entries", "0"]] {
            let run = try Tool.run("joblib", ["cache"] + [command[0], scratch.url.path] + command.dropFirst())
            #expect(run.status == 1)
            #expect(run.errors.contains("is not a joblib cache"))
        }
        #expect(FileManager.default.fileExists(atPath: scratch.path("precious.txt")))
        let missing = try Tool.run("joblib", ["cache", "info", scratch.path("nowhere")])
        #expect(missing.errors.contains("there is no directory"))
    }

    @Test func helpReadsWell() throws {
        let help = try Tool.run("joblib", ["--help"])
        #expect(help.status == 0)
        for command in ["inspect", "hash", "cache"] { #expect(help.output.contains(command)) }
        let prune = try Tool.run("joblib", ["cache", "prune", "--help"])
        #expect(prune.output.contains("--max-size"))
        #expect(prune.output.contains("--max-age"))
    }
}

/// FIFOs, devices, /proc files and decompression bombs: every command answers at once (a FIFO
/// never blocks it; Tool.run fails a command that runs past its time limit).
@Suite(.timeLimit(.minutes(1)))
struct SpecialFileCommandTests {
    @Test func inspectAndHashRefuseFIFOsDevicesAndProcFiles() throws {
        let scratch = try Scratch()
        let fifo = scratch.path("pipe.joblib")
        #expect(mkfifo(fifo, 0o644) == 0)
        for command in ["inspect", "hash"] {
            let run = try Tool.run("joblib", [command, fifo], timeout: 20)
            #expect(run.status == 1, "\(command)")
            #expect(run.errors.contains("FIFO (named pipe), not a regular file") && run.errors.contains("[notRegularFile]"), "\(command): \(run.errors)")
        }
        let devices = try Tool.run("joblib", ["hash", "/dev/zero", "/proc/self/status"], timeout: 20)
        #expect(devices.status == 1)
        #expect(devices.errors.contains("not a regular file"), "\(devices.errors)")
        let proc = try Tool.run("joblib", ["inspect", "/proc/self/status"], timeout: 20)
        #expect(proc.status == 1 && proc.errors.contains("/proc"), "\(proc.errors)")
    }

    @Test func hashOfADamagedContainerFails() throws {
        let scratch = try Scratch()
        for name in ["m.joblib", "m.joblib.zst"] {
            let file = scratch.path(name)
            try dump(sampleModel(), to: file)
            #expect(try Tool.run("joblib", ["hash", file]).status == 0)
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
            bytes[bytes.count / 2] ^= 0x01
            try Data(bytes).write(to: URL(fileURLWithPath: file))
            let run = try Tool.run("joblib", ["hash", file])
            let inspected = try Tool.run("joblib", ["inspect", file])
            #expect(run.status == 1, "\(name): \(run.output) \(run.errors) \(inspected.errors) \(inspected.output)")
            #expect(run.output.isEmpty)
        }
        // A compressed stream of something else is just a file: hashed, exit 0.
        let other = scratch.path("text.gz")
        #expect(try TestSupportShell.run("printf 'hello' | gzip > '\(other)'") == 0)
        #expect(try Tool.run("joblib", ["hash", other]).status == 0)
    }

    @Test func inspectStopsADecompressionBombAtOnce() throws {
        let scratch = try Scratch()
        let bomb = scratch.path("zeros.gz")
        // 1 GiB of zeros in about 1 MB of gzip.
        #expect(try TestSupportShell.run("head -c 1073741824 /dev/zero | gzip -1 > '\(bomb)'") == 0)
        let start = Date()
        let run = try Tool.run("joblib", ["inspect", bomb], timeout: 30)
        #expect(run.status == 1)
        #expect(run.errors.contains("[notOurFile]"), "\(run.errors)")
        #expect(Date().timeIntervalSince(start) < 5)
    }

    @Test func cacheCommandsSkipFIFOsInTheCache() throws {
        let scratch = try Scratch()
        let location = scratch.path("cache")
        let memory = Memory(location: location, verbose: 0)
        let square = memory.cache(name: "square") { (x: Int) in x * x }
        for x in 1...2 { _ = try square(x) }
        let functionDirectory = location + "/joblib/square"
        let entries = try FileManager.default.contentsOfDirectory(atPath: functionDirectory).filter { $0.count == 32 }.sorted()
        #expect(entries.count == 2)
        try FileManager.default.removeItem(atPath: "\(functionDirectory)/\(entries[0])/metadata.json")
        #expect(mkfifo("\(functionDirectory)/\(entries[0])/metadata.json", 0o644) == 0)
        try FileManager.default.removeItem(atPath: "\(functionDirectory)/function.json")
        #expect(mkfifo("\(functionDirectory)/function.json", 0o644) == 0)
        for command in [["info"], ["list"], ["prune", "--max-entries", "5"]] {
            let run = try Tool.run("joblib", ["cache", command[0], location] + command.dropFirst(), timeout: 20)
            #expect(run.status == 0, "\(command): \(run.errors)")
        }
        let list = try Tool.run("joblib", ["cache", "list", location, "--json"], timeout: 20)
        let functions = try #require(try json(list.output) as? [[String: Any]])
        #expect((functions.first?["entries"] as? [Any])?.count == 2)
        let clear = try Tool.run("joblib", ["cache", "clear", location], timeout: 20)
        #expect(clear.status == 0 && clear.output.contains("removed 2 entries"), "\(clear.errors)")
    }
}

/// `/bin/sh -c command`, its exit status.
enum TestSupportShell {
    static func run(_ command: String) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}
