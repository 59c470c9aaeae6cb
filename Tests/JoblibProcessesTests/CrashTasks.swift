import Foundation
import JoblibParallel

// Tasks of the crash matrix (file scope: workers find them by name).

/// Where in a worker a crash-matrix task fails.
enum CrashStage: String, Codable, Sendable, CaseIterable {
    /// In the task's `init(from:)`.
    case decodingTask
    /// In `run()`.
    case running
    /// In the result's `encode(to:)`.
    case encodingResult
}

/// How it fails.
enum CrashKind: String, Codable, Sendable, CaseIterable {
    case throwError, exit0, exit1, trap, segfault, sigkill
}

func crash(_ kind: CrashKind, _ what: String) throws -> Never {
    switch kind {
    case .throwError: throw ModelError(reason: what, index: -9)
    case .exit0: exit(0)
    case .exit1: exit(1)
    case .trap: fatalError("crash matrix: \(what)")
    case .segfault:
        UnsafeMutablePointer<Int>(bitPattern: 8)!.pointee = 1
        fatalError("unreachable")
    case .sigkill:
        kill(getpid(), SIGKILL)
        sleep(10)
        fatalError("unreachable")
    }
}

/// Fails at `stage` in the way `kind` says when `fails`; otherwise returns its index.
struct CrashingTask: ParallelTask {
    var index: Int
    var stage: CrashStage
    var kind: CrashKind
    var fails: Bool

    init(index: Int, stage: CrashStage, kind: CrashKind, fails: Bool) {
        self.index = index
        self.stage = stage
        self.kind = kind
        self.fails = fails
    }

    enum CodingKeys: String, CodingKey { case index, stage, kind, fails }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        index = try container.decode(Int.self, forKey: .index)
        stage = try container.decode(CrashStage.self, forKey: .stage)
        kind = try container.decode(CrashKind.self, forKey: .kind)
        fails = try container.decode(Bool.self, forKey: .fails)
        if fails && stage == .decodingTask { try crash(kind, "decoding task \(index)") }
    }

    func run() throws -> CrashingOutput {
        if fails && stage == .running { try crash(kind, "running task \(index)") }
        return CrashingOutput(value: index, failsToEncode: fails && stage == .encodingResult ? kind : nil)
    }
}

/// A result whose `encode(to:)` fails when told to (only ever encoded in the worker).
struct CrashingOutput: Codable, Sendable, Equatable {
    var value: Int
    var failsToEncode: CrashKind?

    init(value: Int, failsToEncode: CrashKind?) {
        self.value = value
        self.failsToEncode = failsToEncode
    }

    init(from decoder: any Decoder) throws {
        value = try decoder.singleValueContainer().decode(Int.self)
        failsToEncode = nil
    }

    func encode(to encoder: any Encoder) throws {
        if let failsToEncode { try crash(failsToEncode, "encoding the result of task \(value)") }
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}

/// Starts `sleep 20 &` (its pid goes to `pidFile`; nil: starts nothing), then traps or sleeps for
/// `thenSleep` seconds.
struct LeavesAHelperBehind: ParallelTask {
    var pidFile: String?
    var thenSleep: Double?
    func run() throws -> Int {
        if let pidFile { _ = system("sleep 20 & echo $! > '\(pidFile)'") }
        if let thenSleep {
            usleep(UInt32(thenSleep * 1_000_000))
            return 0
        }
        fatalError("trapped after starting a helper process")
    }
}

/// Traps in a thread of its own 100 ms after returning (as a native library's thread can).
struct TrapsLater: ParallelTask {
    var index: Int
    func run() throws -> Int {
        Thread.detachNewThread {
            usleep(100_000)
            fatalError("a background thread traps after its task returned")
        }
        return index
    }
}

/// Traps while its result is encoded when `index == bad`; otherwise returns its index.
struct BadResultAt: ParallelTask {
    var index: Int
    var bad: Int
    func run() throws -> CrashingOutput {
        CrashingOutput(value: index, failsToEncode: index == bad ? .trap : nil)
    }
}
