import Foundation
import JoblibCoding
import JoblibParallel
import JoblibSystem
import Testing
@testable import JoblibProcesses

@Suite struct WorkerStatusTests {
    /// Outputs encoded one by one (so the status words can name each one's task) are the very
    /// bytes of one encoded `[Output]`, which the parent decodes.
    @Test func trackedOutputsAreEncodedExactlyAsAnArray() throws {
        let words = try SharedWords()
        defer { words.closeDescriptor() }
        let status = WorkerStatus(words: words)
        let probes = (0..<5).map { Probe(pid: Int32($0), nesting: $0, ompThreads: $0 % 2 == 0 ? "x" : nil, workerVariable: nil) }
        #expect(try TrackedOutputs(outputs: probes, indices: Array(10..<15), status: status).encoded() == BinaryEncoder().encode(probes))
        let strings = ["a", "", "ü"]
        #expect(try TrackedOutputs(outputs: strings, indices: [0, 1, 2], status: status).encoded() == BinaryEncoder().encode(strings))
        let optionals: [Int?] = [1, nil, 3]
        #expect(try TrackedOutputs(outputs: optionals, indices: [0, 1, 2], status: status).encoded() == BinaryEncoder().encode(optionals))
        let numbers = [1.5, 2.5]  // bulk-coded in one pass
        #expect(try TrackedOutputs(outputs: numbers, indices: [0, 1], status: status).encoded() == BinaryEncoder().encode(numbers))
        // The last output encoded is named, at its stage.
        #expect(status.words.load(StatusWord.runningTask) == 3)
        #expect(status.words.load(StatusWord.stage) == StatusWord.code(of: .encodingResult))
    }

    @Test func statusWordsNameTheTaskAndStage() throws {
        let words = try SharedWords()
        defer { words.closeDescriptor() }
        let status = WorkerStatus(words: words)
        status.begin(41, .decodingTask)
        let started = status.words.load(StatusWord.startedAt)
        status.advance(to: .running)
        #expect(status.words.load(StatusWord.runningTask) == 42)
        #expect(StatusWord.stage(code: status.words.load(StatusWord.stage)) == .running)
        #expect(status.words.load(StatusWord.startedAt) == started)  // the task's time keeps running
        status.idle()
        #expect(status.words.load(StatusWord.runningTask) == 0)
    }

    @Test func theCrashReasonIsTheRuntimesLine() {
        let tail = "some output\nTasks.swift:56: Fatal error: task 2 gave up\nCurrent stack trace:\n0 libswiftCore.so\n"
        #expect(ParallelError.workerDied(taskIndex: 2, status: .signaled(SIGILL), stderrTail: tail, stage: .running).message
            == "the worker process running task 2 died while running it: "
            + ProcessExitStatus.signaled(SIGILL).explained + "\nTasks.swift:56: Fatal error: task 2 gave up")
    }
}
