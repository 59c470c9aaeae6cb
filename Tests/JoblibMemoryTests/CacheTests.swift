import Foundation
import JoblibMemory
import JoblibPersistence
import Testing

struct Query: Codable, Sendable {
    var path: String
    var scale: Double
    var verbose: Bool
}

@Suite("Memory: hits, misses, keys")
struct CacheTests {
    @Test func secondCallLoadsInsteadOfComputing() throws {
        let fixture = try Fixture()
        let counter = CallCounter()
        let square = fixture.memory.cache(name: "square") { (x: Int) -> Int in counter.tick(); return x * x }
        #expect(try square(7) == 49)
        #expect(try square(7) == 49)
        #expect(counter.value == 1)
        #expect(try square(8) == 64)
        #expect(counter.value == 2)
        #expect(fixture.entries("square").count == 2)
        #expect(fixture.warnings.all.isEmpty)
    }

    @Test func entryLayoutHasOutputAndReadableMetadata() throws {
        let fixture = try Fixture()
        let f = fixture.memory.cache(name: "describe") { (label: String, values: [Int]) -> String in "\(label)\(values)" }
        _ = try f("a", [1, 2, 3])
        let entries = fixture.entries("describe")
        try #require(entries.count == 1)
        let directory = "\(fixture.path)/joblib/describe/\(entries[0])"
        #expect(FileManager.default.fileExists(atPath: "\(directory)/output.joblib"))
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/metadata.json"))
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(json["duration"] is Double)
        #expect(json["time"] is Double)
        #expect(json["last_access"] is Double)
        let arguments = try #require(json["input_args"] as? [String: Any])
        #expect(arguments["0"] as? String == "a")
        #expect(arguments["1"] as? [Int] == [1, 2, 3])
        #expect(try load(String.self, from: "\(directory)/output.joblib") == "a[1, 2, 3]")
    }

    @Test func largeArgumentsAreSummarisedInMetadata() throws {
        let fixture = try Fixture()
        let sum = fixture.memory.cache(name: "sum") { (values: [Double]) -> Double in values.reduce(0, +) }
        _ = try sum(Array(repeating: 1.5, count: 100_000))
        let entry = try #require(fixture.entries("sum").first)
        let text = try String(contentsOfFile: "\(fixture.path)/joblib/sum/\(entry)/metadata.json", encoding: .utf8)
        #expect(text.contains("not shown"))
        #expect(text.utf8.count < 1_000)
    }

    @Test func dictionariesInAnyOrderShareOneEntry() throws {
        let fixture = try Fixture()
        let counter = CallCounter()
        let total = fixture.memory.cache(name: "total") { (d: [String: Int]) -> Int in counter.tick(); return d.values.reduce(0, +) }
        var forward: [String: Int] = [:]
        for i in 0..<50 { forward["k\(i)"] = i }
        var backward: [String: Int] = [:]
        for i in (0..<50).reversed() { backward["k\(i)"] = i }
        let a = try total(forward)
        let b = try total(backward)
        #expect(a == b)
        #expect(counter.value == 1)
        #expect(try total(["x": 1]) == 1)
        #expect(counter.value == 2)
    }

    @Test func structArgumentsAndSeveralArguments() throws {
        let fixture = try Fixture()
        let counter = CallCounter()
        let f = fixture.memory.cache(name: "scaled") { (q: Query, offset: Int) -> Double in
            counter.tick(); return q.scale * Double(offset)
        }
        let q = Query(path: "/a", scale: 2, verbose: false)
        #expect(try f(q, 3) == 6)
        #expect(try f(q, 3) == 6)
        #expect(try f(q, 4) == 8)
        #expect(try f(Query(path: "/b", scale: 2, verbose: false), 3) == 6)
        #expect(counter.value == 3)
    }

    @Test func ignoredFieldsAndPositionsDoNotChangeTheKey() throws {
        let fixture = try Fixture()
        let counter = CallCounter()
        let byField = fixture.memory.cache(name: "byField", ignore: ["verbose"]) { (q: Query) -> String in counter.tick(); return q.path }
        _ = try byField(Query(path: "/a", scale: 1, verbose: false))
        _ = try byField(Query(path: "/a", scale: 1, verbose: true))
        #expect(counter.value == 1)
        _ = try byField(Query(path: "/a", scale: 2, verbose: true))
        #expect(counter.value == 2)

        let byPosition = fixture.memory.cache(name: "byPosition", ignore: [.argument(1)]) { (x: Int, log: Bool) -> Int in counter.tick(); return x }
        _ = try byPosition(1, true)
        _ = try byPosition(1, false)
        #expect(counter.value == 3)
        _ = try byPosition(2, false)
        #expect(counter.value == 4)
    }

    @Test func ignoringWhatDoesNotExistIsAnError() throws {
        let fixture = try Fixture()
        let unknownField = fixture.memory.cache(name: "a", ignore: ["nope"]) { (q: Query) -> Int in 1 }
        #expect { try unknownField(Query(path: "", scale: 0, verbose: false)) } throws: { ($0 as? MemoryError)?.code == .invalidArgument }
        let badPosition = fixture.memory.cache(name: "b", ignore: [.argument(2)]) { (x: Int) -> Int in x }
        #expect { try badPosition(1) } throws: { ($0 as? MemoryError)?.code == .invalidArgument }
        let negativePosition = fixture.memory.cache(name: "c", ignore: [.argument(-1)]) { (x: Int) -> Int in x }
        #expect { try negativePosition(1) } throws: { ($0 as? MemoryError)?.code == .invalidArgument }
        let noName = fixture.memory.cache(name: "") { (x: Int) -> Int in x }
        #expect { try noName(1) } throws: { ($0 as? MemoryError)?.code == .invalidArgument }
    }

    @Test func versionChangeInvalidatesOnlyThatFunction() throws {
        let fixture = try Fixture()
        let counter = CallCounter()
        let v1 = fixture.memory.cache(name: "model", version: 1) { (x: Int) -> String in counter.tick(); return "v1:\(x)" }
        let other = fixture.memory.cache(name: "other") { (x: Int) -> Int in counter.tick(); return x }
        #expect(try v1(1) == "v1:1")
        _ = try other(1)
        #expect(counter.value == 2)

        // A new process (here: a new Memory) with version 2 of the function.
        let memory = Memory(location: fixture.directory.path, verbose: 0, onWarning: fixture.warnings.handler)
        let v2 = memory.cache(name: "model", version: 2) { (x: Int) -> String in counter.tick(); return "v2:\(x)" }
        #expect(try v2(1) == "v2:1")
        #expect(counter.value == 3)
        #expect(fixture.entries("model").count == 1)  // the version-1 entry was removed
        _ = try memory.cache(name: "other") { (x: Int) -> Int in counter.tick(); return x }(1)
        #expect(counter.value == 3)  // still a hit
        // Going back is a change too: never returns v2's result.
        let back = Memory(location: fixture.directory.path, verbose: 0).cache(name: "model", version: 1) { (x: Int) -> String in "v1 again:\(x)" }
        #expect(try back(1) == "v1 again:1")
    }

    @Test func expiredEntriesAreRecomputed() throws {
        let fixture = try Fixture()
        let counter = CallCounter()
        let f = fixture.memory.cache(name: "fresh", expiresAfter: .seconds(60)) { (x: Int) -> Int in counter.tick(); return x }
        _ = try f(1)
        _ = try f(1)
        #expect(counter.value == 1)
        #expect(try f.checkCallInCache(1))
        let output = fixture.output("fresh", try #require(fixture.entries("fresh").first))
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -120)], ofItemAtPath: output)
        #expect(try !f.checkCallInCache(1))
        _ = try f(1)
        #expect(counter.value == 2)
        _ = try f(1)
        #expect(counter.value == 2)
        #expect(fixture.entries("fresh").count == 1)
    }

    @Test func checkCallInCacheDoesNotCall() throws {
        let fixture = try Fixture()
        let counter = CallCounter()
        let f = fixture.memory.cache(name: "check") { (x: Int) -> Int in counter.tick(); return x }
        #expect(try !f.checkCallInCache(5))
        _ = try f(5)
        #expect(try f.checkCallInCache(5))
        #expect(try !f.checkCallInCache(6))
        #expect(counter.value == 1)
    }

    @Test func clearOneFunctionOrEverything() throws {
        let fixture = try Fixture()
        let counter = CallCounter()
        let f = fixture.memory.cache(name: "f") { (x: Int) -> Int in counter.tick(); return x }
        let g = fixture.memory.cache(name: "g") { (x: Int) -> Int in counter.tick(); return x }
        _ = try f(1); _ = try g(1)
        try f.clear()
        #expect(try !f.checkCallInCache(1))
        #expect(try g.checkCallInCache(1))
        _ = try f(1)
        #expect(counter.value == 3)
        try fixture.memory.clear()
        #expect(try !g.checkCallInCache(1))
        _ = try g(1)
        #expect(counter.value == 4)
    }

    @Test func nilLocationPassesThrough() throws {
        let counter = CallCounter()
        let memory = Memory(location: nil, verbose: 0)
        let f = memory.cache(name: "f") { (x: Int) -> Int in counter.tick(); return x + 1 }
        #expect(try f(1) == 2)
        #expect(try f(1) == 2)
        #expect(counter.value == 2)
        #expect(try !f.checkCallInCache(1))
        let shelved = try f.callAndShelve(3)
        #expect(try shelved.get() == 4)
        try memory.clear()
        try memory.reduceSize(bytesLimit: .bytes(0))
    }

    @Test func asyncFunctionsAreCached() async throws {
        let fixture = try Fixture()
        let counter = CallCounter()
        let f = fixture.memory.cache(name: "async") { (x: Int) async throws -> Int in
            try await Task.sleep(for: .milliseconds(1))
            counter.tick()
            return x * 3
        }
        #expect(try await f(2) == 6)
        #expect(try await f(2) == 6)
        #expect(counter.value == 1)
        #expect(try await f.callAndShelve(2).get() == 6)
    }

    @Test func functionErrorsPassThroughAndStoreNothing() throws {
        struct Boom: Error {}
        let fixture = try Fixture()
        let f = fixture.memory.cache(name: "boom") { (x: Int) throws -> Int in throw Boom() }
        #expect(throws: Boom.self) { try f(1) }
        #expect(fixture.entries("boom").isEmpty)
    }

    @Test func unencodableResultsAndArgumentsAreClearErrors() throws {
        struct Refuses: Codable, Sendable {
            init() {}
            init(from decoder: any Decoder) throws { self.init() }
            func encode(to encoder: any Encoder) throws {
                throw EncodingError.invalidValue(0, .init(codingPath: [], debugDescription: "refuses"))
            }
        }
        let fixture = try Fixture()
        let badResult = fixture.memory.cache(name: "badResult") { (x: Int) -> Refuses in Refuses() }
        #expect { try badResult(1) } throws: { ($0 as? MemoryError)?.code == .resultNotEncodable }
        #expect(fixture.entries("badResult").isEmpty)
        #expect(fixture.allNames("badResult").filter { $0.hasPrefix(".tmp") }.isEmpty)
        let badArgument = fixture.memory.cache(name: "badArgument") { (x: Refuses) -> Int in 1 }
        #expect { try badArgument(Refuses()) } throws: { ($0 as? MemoryError)?.code == .argumentNotHashable }
    }

    @Test func compressionAndMapping() throws {
        let compressed = try Fixture(compression: .zstd(level: 3))
        let f = compressed.memory.cache(name: "zeros") { (n: Int) -> [Double] in Array(repeating: 0, count: n) }
        #expect(try f(100_000) == Array(repeating: 0, count: 100_000))
        #expect(try f(100_000).count == 100_000)
        let output = compressed.output("zeros", try #require(compressed.entries("zeros").first))
        let size = try #require(try FileManager.default.attributesOfItem(atPath: output)[.size] as? Int)
        #expect(size < 100_000)

        let mapped = try Fixture(mapping: .readOnly)
        let g = mapped.memory.cache(name: "array") { (n: Int) -> NDArray<Double> in NDArray(shape: [n, 2], Array(repeating: 1.5, count: n * 2)) }
        let first = try g(1_000)
        let second = try g(1_000)
        #expect(first.isMemoryMapped && second.isMemoryMapped)
        #expect(second.shape == [1_000, 2] && second[[999, 1]] == 1.5)
        #expect(mapped.warnings.all.isEmpty)
    }
}
