import Foundation
import JoblibParallel

// Tasks of the crash matrix (file scope and public: workers find them by name).

/// Where a crash-matrix task fails.
public enum CrashStage: String, Codable, Sendable, CaseIterable {
    /// In the task's `init(from:)` (only where tasks are decoded: in another process).
    case decodingTask
    /// In `run()`.
    case running
    /// In the result's `encode(to:)` (only where results are encoded: in another process).
    case encodingResult
}

/// How it fails. Everything but ``throwError`` ends the process it happens in.
public enum CrashKind: String, Codable, Sendable, CaseIterable {
    case throwError, exit0, exit1, trap, segfault, sigkill
}

/// The error a crash-matrix task throws (`Codable`: it crosses processes as itself).
public struct CrashMatrixError: Error, Codable, Equatable, Sendable {
    public var reason: String
    public init(reason: String) { self.reason = reason }
}

func crash(_ kind: CrashKind, _ what: String) throws -> Never {
    switch kind {
    case .throwError: throw CrashMatrixError(reason: what)
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
public struct CrashingTask: ParallelTask {
    public var index: Int
    public var stage: CrashStage
    public var kind: CrashKind
    public var fails: Bool

    public init(index: Int, stage: CrashStage, kind: CrashKind, fails: Bool) {
        self.index = index
        self.stage = stage
        self.kind = kind
        self.fails = fails
    }

    enum CodingKeys: String, CodingKey { case index, stage, kind, fails }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        index = try container.decode(Int.self, forKey: .index)
        stage = try container.decode(CrashStage.self, forKey: .stage)
        kind = try container.decode(CrashKind.self, forKey: .kind)
        fails = try container.decode(Bool.self, forKey: .fails)
        if fails && stage == .decodingTask { try crash(kind, "decoding task \(index)") }
    }

    public func run() throws -> CrashingOutput {
        if fails && stage == .running { try crash(kind, "running task \(index)") }
        return CrashingOutput(value: index, failsToEncode: fails && stage == .encodingResult ? kind : nil)
    }
}

/// A result whose `encode(to:)` fails when told to (only ever encoded in a worker process).
public struct CrashingOutput: Codable, Sendable, Equatable {
    public var value: Int
    public var failsToEncode: CrashKind?

    public init(value: Int, failsToEncode: CrashKind?) {
        self.value = value
        self.failsToEncode = failsToEncode
    }

    public init(from decoder: any Decoder) throws {
        value = try decoder.singleValueContainer().decode(Int.self)
        failsToEncode = nil
    }

    public func encode(to encoder: any Encoder) throws {
        if let failsToEncode { try crash(failsToEncode, "encoding the result of task \(value)") }
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}
