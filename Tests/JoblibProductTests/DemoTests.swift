import Foundation
import Testing

/// The README's main job on a small book: the trapped item is reported, the rest is priced,
/// and a second run is answered from the cache.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct DemoTests {
    @Test func trappedItemIsReportedAndSecondRunHitsTheCache() throws {
        let scratch = try Scratch()
        let arguments = ["--items", "12", "--cache", "cache", "--jobs", "2"]

        let first = try Tool.run("joblib-demo", arguments, in: scratch.url)
        #expect(first.status == 0, "stderr: \(first.errors)")
        // 12 items: the middle one (6) carries the corrupt volatility and traps its worker.
        #expect(first.output.contains("item 6 failed: its worker process died (signal"))
        #expect(first.output.contains("contract 6: volatility -0.2 is not positive"))
        #expect(first.output.contains("priced 11 of 12 contracts; failed items: 6"))
        #expect(first.output.contains("cache: 0 hits, 12 misses"))
        #expect(first.output.contains("computed: 11 contracts"))
        #expect(first.output.contains("speedup against one worker"))
        // Progress goes to standard error as joblib's lines (not a terminal here).
        #expect(first.errors.contains("[Parallel(jobs=2)]: Done"))

        let second = try Tool.run("joblib-demo", arguments, in: scratch.url)
        #expect(second.status == 0, "stderr: \(second.errors)")
        #expect(second.output.contains("cache: 11 hits, 1 miss; the hits saved"))
        #expect(second.output.contains("item 6 failed"))
        #expect(second.output.contains("priced 11 of 12 contracts"))
        #expect(!second.output.contains("computed: 11"))
        // The hits saved the time the first run spent, which is not zero.
        let saved = try #require(second.output.firstMatch(of: /the hits saved ([0-9.]+) s/)).1
        #expect(Double(saved)! > 0)

        // Same prices both times (the cache returns what was computed).
        let firstBest = first.output.firstMatch(of: /most valuable: (.*)/)?.1
        let secondBest = second.output.firstMatch(of: /most valuable: (.*)/)?.1
        #expect(firstBest != nil && firstBest == secondBest)

        // The saved arrays: raw (mapped on reload) and zstd, both readable by the tool.
        let raw = scratch.path("cache/results.joblib"), packed = scratch.path("cache/results.joblib.zst")
        let inspect = try Tool.run("joblib", ["inspect", raw])
        #expect(inspect.status == 0)
        #expect(inspect.output.contains("distributions"))
        #expect(inspect.output.contains("[12, 64]"))
        let hashes = try Tool.run("joblib", ["hash", raw, packed])
        let digests = hashes.output.split(separator: "\n").map { $0.split(separator: " ").first }
        #expect(digests.count == 2 && digests[0] == digests[1])

        // The cache the demo left behind, as the tool sees it.
        let info = try Tool.run("joblib", ["cache", "info", scratch.path("cache"), "--json"])
        let summary = try #require(try json(info.output) as? [String: Any])
        #expect(summary["entries"] as? Int == 11)
    }

    @Test func rejectsInvalidSizes() throws {
        let run = try Tool.run("joblib-demo", ["--items", "0"])
        #expect(run.status == 64)
        #expect(run.errors.contains("--items must be at least 1"))
    }
}
