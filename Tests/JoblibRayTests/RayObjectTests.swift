import Foundation
import JoblibBridge
import JoblibParallel
import JoblibTestSupport
import Testing
@testable import JoblibRay

/// Sums a large argument, adds its index; traps when it is the task named by `trapsAt`. Reports
/// where it ran, so that the test can look into the Swift worker and its actor.
struct RayLargeSum: ParallelTask {
    var values: [Double]
    var index: Int
    var trapsAt: Int = -1
    var seconds: Double = 0

    func run() throws -> RayLargeSumResult {
        if index == trapsAt { fatalError("task \(index) trapped") }
        if seconds > 0 { usleep(UInt32(seconds * 1_000_000)) }
        return RayLargeSumResult(sum: values.reduce(0, +) + Double(index), pid: getpid(), parent: getppid())
    }
}

struct RayLargeSumResult: Codable, Sendable, Equatable {
    var sum: Double
    var pid: Int32
    var parent: Int32
}

/// What the bridge says it holds (its `statistics` answer, BridgeProtocol.md "Objects").
struct RayObjectCounters {
    var puts: Int
    var putBytes: Int
    /// Objects the bridge holds now.
    var objects: Int
    /// Per actor: its pid, the objects it has in memory files now, and how many it ever placed.
    var actors: [(pid: Int32, placed: Int, materialised: Int)]

    var placed: Int { actors.reduce(0) { $0 + $1.placed } }
    var materialised: Int { actors.reduce(0) { $0 + $1.materialised } }
}

extension RayTests.RayBackendTests {
    /// Large arguments go through Ray's object store once per call (issue 17): the bridge puts
    /// each once, each actor places it once in a memory file its Swift worker maps, and the end
    /// of the call (however it ends) leaves no object, memory file or mapping behind.
    @Suite(.serialized) struct RayObjectTests {
        var cluster: RayTestCluster { RayTestCluster.current! }
        var options: RayOptions { RayOptions(noNodesTimeout: .seconds(20)) }
        var ray: Backend { .ray(address: cluster.address, options: options) }

        /// A 20 MB `[Double]` shared by 40 tasks in 10 batches: put once, placed at most once per
        /// actor, every result right.
        @Test func aLargeArgumentIsPutOnceForTheWholeCall() throws {
            let values = (0..<2_500_000).map { Double($0 % 1_000) }
            let total = values.reduce(0, +)
            _ = try Parallel(jobs: 2, backend: ray).run([ConformanceSquare(value: 1)])  // the bridge is up
            let before = try counters()
            let results = try Parallel(jobs: 2, backend: ray, batchSize: .fixed(4))
                .run((0..<40).map { RayLargeSum(values: values, index: $0) })
            #expect(results.map(\.sum) == (0..<40).map { total + Double($0) })
            let after = try counters()
            #expect(after.puts - before.puts == 1, "puts: \(before.puts) → \(after.puts)")
            #expect(after.putBytes - before.putBytes == values.count * 8)
            // Both actors ran batches; each placed the object once.
            #expect(after.materialised - before.materialised == Set(results.map(\.parent)).count)
            try expectNothingLeft(workers: results)
        }

        /// Two large arguments (each put once), and a task that traps its Swift worker in the
        /// middle of a batch: it fails alone, the tasks after it run on a fresh Swift worker that
        /// still sees the arguments, and nothing is left behind.
        @Test func twoLargeArgumentsAndACrashLeaveNothingBehind() throws {
            let first = (0..<1_000_000).map { Double($0 % 7) }
            let second = (0..<1_500_000).map { Double($0 % 11) }
            let sums = [first.reduce(0, +), second.reduce(0, +)]
            _ = try Parallel(jobs: 2, backend: ray).run([ConformanceSquare(value: 1)])
            let before = try counters()
            let tasks = (0..<24).map { RayLargeSum(values: $0 % 2 == 0 ? first : second, index: $0, trapsAt: 9) }
            let outcomes = Parallel(jobs: 2, backend: ray, batchSize: .fixed(6)).results(tasks)
            for (index, outcome) in outcomes.enumerated() where index != 9 {
                #expect((try? outcome.get())?.sum == sums[index % 2] + Double(index), "task \(index): \(outcome)")
            }
            guard case .failure(let error as ParallelError) = outcomes[9] else {
                Issue.record("task 9 did not fail with ParallelError: \(outcomes[9])")
                return
            }
            #expect(error.code == .workerDied && error.taskIndex == 9, "\(error)")
            let after = try counters()
            #expect(after.puts - before.puts == 2, "puts: \(before.puts) → \(after.puts)")
            #expect(after.putBytes - before.putBytes == (first.count + second.count) * 8)
            try expectNothingLeft(workers: outcomes.compactMap { try? $0.get() })
        }

        /// A call cancelled while its batches run: its object is released and the actors close
        /// their memory files all the same.
        @Test func aCancelledCallLeavesNoObjectBehind() async throws {
            let values = (0..<1_000_000).map { Double($0) }
            _ = try await Parallel(jobs: 2, backend: ray).run([ConformanceSquare(value: 1)])
            let before = try counters()
            let parallel = Parallel(jobs: 2, backend: ray, batchSize: .fixed(4))
            let call = Task { try await parallel.run((0..<40).map { RayLargeSum(values: values, index: $0, seconds: 0.25) }) }
            try await Task.sleep(for: .milliseconds(1_500))
            call.cancel()
            await #expect(throws: CancellationError.self) { try await call.value }
            let after = try await settled()
            #expect(after.puts - before.puts == 1)
            #expect(after.objects == 0 && after.placed == 0, "objects \(after.objects), placed \(after.placed)")
            for actor in after.actors { #expect(memoryFiles(of: actor.pid) == 0, "actor \(actor.pid) keeps memory files") }
        }

        /// Lazy input: each task's array is made when its batch is encoded and freed after, so a
        /// new array often lies at a freed one's address. Each must arrive with its own contents.
        @Test func anArrayAtAFreedArraysAddressIsNotTakenForIt() throws {
            let tasks = (0..<40).lazy.map { RayLargeSum(values: [Double](repeating: Double($0), count: 300_000), index: $0) }
            let results = try Parallel(jobs: 1, backend: ray, batchSize: .fixed(1)).run(tasks)
            let expected: [Double] = (0..<40).map { index in Double(index) * 300_001 }
            #expect(results.map(\.sum) == expected)
        }

        // MARK: - Helpers

        /// The bridge's counters, asked on the idle bridge of these options.
        func counters() throws -> RayObjectCounters {
            let pool = BridgePool.pool(for: RaySettings(address: cluster.address, options: options))
            let bridge = try pool.checkOut()
            defer { pool.checkIn(bridge) }
            let values = try #require(try bridge.statistics(timeout: .seconds(20)), "the Ray bridge did not answer `statistics`")
            let actors = (values["actors"] ?? "").split(separator: ",").compactMap { entry -> (Int32, Int, Int)? in
                let parts = entry.split(separator: ":").compactMap { Int($0) }
                return parts.count == 3 ? (Int32(parts[0]), parts[1], parts[2]) : nil
            }
            return RayObjectCounters(
                puts: Int(values["puts"] ?? "") ?? -1, putBytes: Int(values["put_bytes"] ?? "") ?? -1,
                objects: Int(values["objects"] ?? "") ?? -1, actors: actors.map { (pid: $0.0, placed: $0.1, materialised: $0.2) })
        }

        /// The counters once the actors have closed their memory files (they do it after their
        /// running batch), waiting up to 15 s.
        func settled() async throws -> RayObjectCounters {
            var last = try counters()
            let deadline = ContinuousClock.now + .seconds(15)
            while (last.objects != 0 || last.placed != 0) && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
                last = try counters()
            }
            return last
        }

        /// No object held by the bridge, no memory file in an actor, no mapping of one in the
        /// Swift workers that ran the tasks (those still alive).
        func expectNothingLeft(workers: [RayLargeSumResult]) throws {
            let deadline = Date().addingTimeInterval(15)
            var last = try counters()
            while (last.objects != 0 || last.placed != 0) && Date() < deadline {
                usleep(200_000)
                last = try counters()
            }
            #expect(last.objects == 0, "the bridge still holds \(last.objects) objects")
            #expect(last.placed == 0, "the actors still hold \(last.placed) memory files")
            let actors = Set(last.actors.map(\.pid)).union(workers.map(\.parent))
            for pid in actors where isAlive(pid) { #expect(memoryFiles(of: pid) == 0, "actor \(pid) keeps memory files") }
            // The Swift workers drop their mappings when their actor tells them the call is over.
            var mapped = Set(workers.map(\.pid)).filter { isAlive($0) && mapsObjects($0) }
            while !mapped.isEmpty && Date() < deadline {
                usleep(200_000)
                mapped = mapped.filter { isAlive($0) && mapsObjects($0) }
            }
            #expect(mapped.isEmpty, "Swift workers still map an object: \(mapped)")
        }
    }
}

/// How many of the process's descriptors are the actors' object memory files.
func memoryFiles(of pid: Int32) -> Int {
    let directory = "/proc/\(pid)/fd"
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    return entries.filter {
        ((try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\($0)")) ?? "").contains("memfd:joblib-ray-object")
    }.count
}

/// Whether the process maps one of the actors' object memory files.
func mapsObjects(_ pid: Int32) -> Bool {
    ((try? String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8)) ?? "").contains("memfd:joblib-ray-object")
}
