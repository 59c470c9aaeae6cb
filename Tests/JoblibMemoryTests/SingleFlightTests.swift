import Foundation
import JoblibMemory
import JoblibSystem
import JoblibTestSupport
import Synchronization
import SystemPackage
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Starts `joblib-test-helper memory-compute DIR 12 DELAY wait` (slowSquare(12), each
/// computation logged in DIR/starts.log before and DIR/computations.log after).
func startComputing(_ directory: String, delayMilliseconds: Int) throws -> Process {
    let process = Process()
    process.executableURL = TestSupport.helperExecutable
    process.arguments = ["memory-compute", directory, "12", "\(delayMilliseconds)", "wait"]
    process.standardOutput = Pipe()
    process.standardError = FileHandle.nullDevice
    try process.run()
    return process
}

/// Waits for a process at most `seconds`, killing it after; its output and how it ended.
func finish(_ process: Process, seconds: Double = 60) -> (output: String, exited: Bool) {
    let deadline = Date().addingTimeInterval(seconds)
    while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
    if process.isRunning {
        Issue.record("process \(process.processIdentifier) still runs after \(seconds) s")
        kill(process.processIdentifier, SIGKILL)
    }
    process.waitUntilExit()
    let data = (process.standardOutput as! Pipe).fileHandleForReading.readDataToEndOfFile()
    return (String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines),
            process.terminationReason == .exit && process.terminationStatus == 0)
}

func logLines(_ path: String) -> [String] {
    ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
}

@Suite("Memory: a key is computed once", .timeLimit(.minutes(2)))
struct SingleFlightTests {
    /// Eight processes miss the same key at once: one computes, seven wait and load its entry.
    @Test func eightProcessesComputeOnce() throws {
        let fixture = try Fixture()
        let processes = try (0..<8).map { _ in try startComputing(fixture.path, delayMilliseconds: 1_500) }
        for process in processes {
            let (output, exited) = finish(process)
            #expect(exited && output == "[144, 12]", "\(output)")
        }
        #expect(logLines(fixture.path + "/computations.log").count == 1)
        #expect(logLines(fixture.path + "/starts.log").count == 1)
        #expect(fixture.entries("slowSquare").count == 1)
        // Nothing is left behind but the function's one lock file.
        #expect(fixture.allNames("slowSquare").filter { $0.hasPrefix(".") } == [".locks"], "\(fixture.allNames("slowSquare"))")
    }

    /// The computing process is killed halfway: its lock dies with it, one waiter computes again
    /// (once), the others get that result.
    @Test func aKilledComputationIsTakenOverOnce() throws {
        let fixture = try Fixture()
        let first = try startComputing(fixture.path, delayMilliseconds: 4_000)
        let starts = fixture.path + "/starts.log"
        let deadline = Date().addingTimeInterval(20)
        while logLines(starts).isEmpty && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        #expect(logLines(starts) == ["\(first.processIdentifier)"])
        let waiters = try (0..<6).map { _ in try startComputing(fixture.path, delayMilliseconds: 1_000) }
        Thread.sleep(forTimeInterval: 1.0)  // the waiters start and wait on the lock
        #expect(logLines(starts).count == 1, "nobody else computes while the first one holds the key")
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        #expect(first.terminationReason == .uncaughtSignal)
        for waiter in waiters {
            let (output, exited) = finish(waiter)
            #expect(exited && output == "[144, 12]", "\(output)")
        }
        let started = logLines(starts)
        #expect(started.count == 2, "\(started)")
        #expect(logLines(fixture.path + "/computations.log").count == 1)
        #expect(!started.dropFirst().contains("\(first.processIdentifier)"))
        #expect(fixture.entries("slowSquare").count == 1)
    }

    /// Threads of one process single-flight too (each lock is its own open file description).
    @Test func threadsOfOneProcessComputeOnce() async throws {
        let fixture = try Fixture()
        let counter = CallCounter()
        let f = fixture.memory.cache(name: "slow") { (x: Int) -> Int in
            counter.tick()
            usleep(500_000)
            return x + 1
        }
        let results = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<4 { group.addTask { try f(1) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results == [2, 2, 2, 2])
        #expect(counter.value == 1)
        #expect(fixture.warnings.all.isEmpty)
    }

    /// Cancellation ends a wait; a miss nobody else is computing computes, as it always did.
    @Test func anUncontendedMissInACancelledTaskStillComputes() async throws {
        let fixture = try Fixture()
        let f = fixture.memory.cache(name: "f") { (x: Int) -> Int in x + 1 }
        let task = Task { () throws -> Int in
            withUnsafeCurrentTask { $0?.cancel() }
            return try f(3)
        }
        #expect(try await task.value == 4)
    }

    /// An async waiter is cancelled at once; a waiter whose wait runs out computes itself, warned.
    @Test func waitsEndOnCancellationAndOnTheirTimeLimit() async throws {
        let fixture = try Fixture()
        let started = Mutex(false)
        let f = fixture.memory.cache(name: "slow") { (x: Int) async throws -> Int in
            started.withLock { $0 = true }
            try await Task.sleep(for: .seconds(20))  // holds the key until cancelled below
            return x
        }
        let holder = Task { try await f(5) }
        while !started.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
        let waiter = Task { try await f(5) }
        try await Task.sleep(for: .milliseconds(300))
        let cancelledAt = ContinuousClock.now
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        // Ended by the cancellation, long before the holder lets go (the bound is loose because a
        // loaded test run can keep the cooperative pool busy for a while).
        #expect(ContinuousClock.now - cancelledAt < .seconds(5))

        let impatientWarnings = WarningLog()
        let impatient = Memory(location: fixture.directory.path, verbose: 0, computationWait: .milliseconds(300), onWarning: impatientWarnings.handler)
        let counter = CallCounter()
        let g = impatient.cache(name: "slow") { (x: Int) -> Int in counter.tick(); return x }
        #expect(try g(5) == 5)
        #expect(counter.value == 1)
        #expect(impatientWarnings.codes == [.waitTimedOut])
        holder.cancel()
        await #expect(throws: CancellationError.self) { try await holder.value }
    }
}

@Suite("Memory: special files, shelving, .gitignore, ignored arguments", .timeLimit(.minutes(1)))
struct CacheHygieneTests {
    /// A FIFO where the output or the function's identity file belongs: the call does not block,
    /// says the entry was corrupt, recomputes and replaces it.
    @Test(arguments: [false, true])
    func fifosInTheCacheAreCorruptEntries(mapped: Bool) throws {
        let fixture = try Fixture(mapping: mapped ? .readOnly : nil)
        let counter = CallCounter()
        let f = fixture.memory.cache(name: "f") { (x: Int) -> [Double] in counter.tick(); return [Double(x)] }
        _ = try f(1)
        let entry = try #require(fixture.entries("f").first)
        let output = fixture.output("f", entry)
        try FileManager.default.removeItem(atPath: output)
        #expect(mkfifo(output, 0o644) == 0)
        let other = Memory(location: fixture.directory.path, mapping: mapped ? .readOnly : nil, verbose: 0, onWarning: fixture.warnings.handler)
        let g = other.cache(name: "f") { (x: Int) -> [Double] in counter.tick(); return [Double(x)] }
        #expect(try g.checkCallInCache(1) == false)
        #expect(try g(1) == [1])
        #expect(counter.value == 2)
        #expect(fixture.warnings.codes == [.corruptEntry])
        // The warning names the entry once and says what was wrong.
        let warning = try #require(fixture.warnings.all.first).description
        #expect(warning.components(separatedBy: "\(fixture.path)/joblib/f/\(entry)").count == 2, "\(warning)")
        #expect(warning.contains("FIFO"), "\(warning)")
        #expect(try g(1) == [1])
        #expect(counter.value == 2)

        let identity = "\(fixture.path)/joblib/f/function.json"
        try FileManager.default.removeItem(atPath: identity)
        #expect(mkfifo(identity, 0o644) == 0)
        let third = Memory(location: fixture.directory.path, verbose: 0, onWarning: fixture.warnings.handler)
        #expect(try third.cache(name: "f") { (x: Int) -> [Double] in counter.tick(); return [Double(x)] }(1) == [1])
        #expect(fixture.warnings.codes.last == .corruptEntry)
        let rewritten = try String(contentsOfFile: identity, encoding: .utf8)
        #expect(rewritten.contains("\"name\": \"f\""))
    }

    /// A MemoryError from a failed system call says its path once.
    @Test func memoryErrorsSayThePathOnce() throws {
        let fixture = try Fixture()
        let file = fixture.path + "/not-a-cache"
        try "x".write(toFile: file, atomically: true, encoding: .utf8)
        let memory = Memory(location: FilePath(file + "/inside"), verbose: 0)
        do {
            try memory.reduceSize(itemsLimit: 0)
            Issue.record("reduceSize under a regular file succeeded")
        } catch let error as MemoryError {
            let text = "\(error)"
            #expect(text.components(separatedBy: file).count == 2, "\(text)")
        }
    }

    /// callAndShelve returns the reference without reading the output (its access time stays);
    /// get() reads it.
    @Test func callAndShelveDoesNotLoadTheOutput() throws {
        let fixture = try Fixture()
        let counter = CallCounter()
        let f = fixture.memory.cache(name: "f") { (x: Int) -> [Int] in counter.tick(); return [x] }
        _ = try f(3)
        let output = fixture.output("f", try #require(fixture.entries("f").first))
        let old = Date().timeIntervalSince1970 - 3_600
        try setAccessTime(FilePath(output), to: old)
        let shelved = try f.callAndShelve(3)
        #expect(counter.value == 1)
        var info = stat()
        #expect(stat(output, &info) == 0)
        #expect(abs(Double(info.st_atim.tv_sec) - old) < 2, "callAndShelve moved the access time")
        #expect(try shelved.get() == [3])
        #expect(stat(output, &info) == 0)
        #expect(Double(info.st_atim.tv_sec) > old + 60, "get() records the access")
    }

    /// Memory writes `<location>/.gitignore` with joblib 1.6's content, and keeps one that exists.
    @Test func theCacheIsIgnoredByGitAsJoblibDoes() throws {
        let fixture = try Fixture()
        _ = try fixture.memory.cache(name: "f") { (x: Int) in x }(1)
        let ours = try String(contentsOfFile: fixture.path + "/.gitignore", encoding: .utf8)
        #expect(ours == "# Created by joblib automatically.\n*\n")
        if let python = TestSupport.which("python3") {
            let script = "import joblib, sys; m = joblib.Memory(sys.argv[1], verbose=0); print(open(sys.argv[1] + '/.gitignore').read(), end='')"
            let scratch = try Fixture()
            let run = try TestSupport.run(python, ["-c", script, scratch.path])
            #expect(run.status == 0, "joblib 1.6 is installed by scripts/setup.sh")
            #expect(run.output == ours)
        }
        try "mine\n".write(toFile: fixture.path + "/.gitignore", atomically: true, encoding: .utf8)
        let again = Memory(location: fixture.directory.path, verbose: 0)
        _ = try again.cache(name: "g") { (x: Int) in x }(1)
        #expect(try String(contentsOfFile: fixture.path + "/.gitignore", encoding: .utf8) == "mine\n")
    }

    /// Ignored arguments and fields are left out of metadata.json and of the verbose trace.
    @Test func ignoredArgumentsAreNotWrittenOut() throws {
        let fixture = try Fixture()
        let run = try TestSupport.run(TestSupport.helperExecutable, ["memory-ignore", fixture.path])
        #expect(run.status == 0)
        #expect(run.output.contains("[Memory] Calling query..."))
        #expect(run.output.contains("visible-path"))
        #expect(!run.output.contains("hunter2"), "\(run.output)")
        #expect(!run.output.contains("password"), "\(run.output)")
        let entry = try #require(fixture.entries("query").first)
        let metadata = try String(contentsOfFile: "\(fixture.path)/joblib/query/\(entry)/metadata.json", encoding: .utf8)
        #expect(metadata.contains("visible-path") && metadata.contains("\"verbose\":true"), "\(metadata)")
        #expect(!metadata.contains("hunter2") && !metadata.contains("password") && !metadata.contains("\"1\""), "\(metadata)")
    }
}
