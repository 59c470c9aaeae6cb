import Foundation
import JoblibTestSupport
import Testing

@Suite(.timeLimit(.minutes(1))) struct OrphanTests {
    /// A parent killed with SIGKILL cannot clean up: its workers must notice and exit by themselves.
    @Test(.timeLimit(.minutes(1)))
    func workersExitWhenTheirParentIsKilled() throws {
        let process = Process()
        process.executableURL = TestSupport.helperExecutable
        process.arguments = ["orphans"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        // Read lines until both workers have announced themselves.
        var workers: [Int32] = []
        var buffer = Data()
        let reader = output.fileHandleForReading
        let deadline = Date().addingTimeInterval(20)
        while workers.count < 2 && Date() < deadline {
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
            workers = String(decoding: buffer, as: UTF8.self).split(separator: "\n")
                .filter { $0.hasPrefix("worker ") }.compactMap { Int32($0.dropFirst(7)) }
        }
        #expect(workers.count == 2, "workers announced: \(String(decoding: buffer, as: UTF8.self))")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        // Within a second (the workers check their parent every 100 ms) they are gone.
        let gone = Date().addingTimeInterval(1.5)
        while Date() < gone && workers.contains(where: isAlive) { usleep(20_000) }
        #expect(!workers.contains(where: isAlive), "still running: \(workers.filter(isAlive))")
        // Reap-free check: the orphans were re-parented, so only /proc can tell.
    }
}

@Suite(.timeLimit(.minutes(1))) struct DescriptorLeakTests {
    /// In a process of its own (other tests open descriptors concurrently here): calls that
    /// succeed, crash a worker and time out leave no descriptor open once the pool is shut down.
    @Test(.timeLimit(.minutes(1)))
    func noDescriptorOutlivesThePool() throws {
        let result = try TestSupport.run(TestSupport.helperExecutable, ["fd-leaks"])
        #expect(result.status == 0)
        let line = result.output.split(separator: "\n").first { $0.hasPrefix("descriptors ") } ?? ""
        let counts = line.split(separator: " ").dropFirst().compactMap { Int($0) }
        #expect(counts.count == 2 && counts[0] == counts[1], "before and after: \(line)\n\(result.output)")
    }
}
