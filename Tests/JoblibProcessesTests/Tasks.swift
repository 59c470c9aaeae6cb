import Foundation
import JoblibParallel
import JoblibPersistence
@testable import JoblibProcesses

// Task types must be declared at file scope: worker processes find them by name.

struct Square: ParallelTask {
    var value: Int
    func run() throws -> Int { value * value }
}

/// Reports where it ran.
struct WhereAmI: ParallelTask {
    var index: Int
    func run() throws -> Probe {
        Probe(
            pid: getpid(), nesting: ParallelConfiguration.current.nestingLevel,
            ompThreads: ProcessInfo.processInfo.environment["OMP_NUM_THREADS"],
            workerVariable: ProcessInfo.processInfo.environment["JOBLIB_WORKER"])
    }
}

struct Probe: Codable, Sendable, Equatable {
    var pid: Int32
    var nesting: Int
    var ompThreads: String?
    var workerVariable: String?
}

/// A Codable error: it arrives in the parent as itself.
struct ModelError: Error, Codable, Equatable {
    var reason: String
    var index: Int
}

/// Not Codable: it arrives as RemoteTaskError.
struct OpaqueError: Error, CustomStringConvertible {
    var description: String { "opaque failure" }
}

/// How a crash-matrix task fails.
enum Failure: String, Codable, Sendable, CaseIterable {
    case none, throwCodable, throwOpaque, exit0, exit1, fatal, segfault, killSelf, printThenTrap
}

struct Faulty: ParallelTask {
    var index: Int
    var failure: Failure
    func run() throws -> Int {
        switch failure {
        case .none: return index
        case .throwCodable: throw ModelError(reason: "bad input", index: index)
        case .throwOpaque: throw OpaqueError()
        case .exit0: exit(0)
        case .exit1: exit(1)
        case .fatal: fatalError("task \(index) gave up")
        case .segfault: UnsafeMutablePointer<Int>(bitPattern: 8)!.pointee = 1; return -1
        case .killSelf: kill(getpid(), SIGKILL); sleep(10); return -1
        case .printThenTrap:
            FileHandle.standardError.write("about to trap in task \(index)\n".data(using: .utf8)!)
            preconditionFailure("trap")
        }
    }
}

/// Fails while the parent encodes it.
struct UnencodableTask: ParallelTask {
    init() {}
    init(from decoder: any Decoder) throws {}
    func encode(to encoder: any Encoder) throws { throw ModelError(reason: "cannot encode", index: -2) }
    func run() throws -> Int { 1 }
}

/// Its result cannot be decoded in the parent.
struct UndecodableResultTask: ParallelTask {
    var index: Int
    func run() throws -> UndecodableOutput { UndecodableOutput() }
}

struct UndecodableOutput: Codable, Sendable {
    init() {}
    init(from decoder: any Decoder) throws { throw ModelError(reason: "cannot decode result", index: -4) }
    func encode(to encoder: any Encoder) throws { var c = encoder.singleValueContainer(); try c.encode(1) }
}

struct Sleeper: ParallelTask {
    var seconds: Double
    func run() throws -> Int {
        usleep(UInt32(seconds * 1_000_000))
        return 1
    }
}

/// Crashes the first time it runs (a marker file remembers), then succeeds.
struct CrashOnce: ParallelTask {
    var marker: String
    func run() throws -> String {
        if FileManager.default.fileExists(atPath: marker) { return "second try" }
        _ = FileManager.default.createFile(atPath: marker, contents: nil)
        fatalError("first try")
    }
}

/// Writes a lot to standard error and standard output.
struct Chatty: ParallelTask {
    var bytes: Int
    func run() throws -> Int {
        let line = String(repeating: "x", count: 99) + "\n"
        let data = String(repeating: line, count: bytes / 100).data(using: .utf8)!
        FileHandle.standardError.write(data)
        print(String(repeating: "y", count: 1000))
        return data.count
    }
}

struct NestedCall: ParallelTask {
    var count: Int
    func run() throws -> [Int] {
        try Parallel(jobs: 2).run((0..<count).map { Square(value: $0) })
    }
}

/// Sums a slice of a large shared array.
struct SumSlice: ParallelTask {
    var values: [Double]
    var part: Int
    var parts: Int
    func run() throws -> Double {
        let size = values.count / parts
        return values[(part * size)..<((part + 1) * size)].reduce(0, +)
    }
}

/// Sums a slice of a large shared NDArray, and says whether the worker saw it mapped (no copy).
struct SumArraySlice: ParallelTask {
    var values: NDArray<Double>
    var part: Int
    var parts: Int
    func run() throws -> MappedSum {
        let size = values.count / parts
        let sum = values[(part * size)..<((part + 1) * size)].reduce(0, +)
        return MappedSum(sum: sum, mapped: values.isMemoryMapped)
    }
}

struct MappedSum: Codable, Sendable, Equatable {
    var sum: Double
    var mapped: Bool
}

struct SlowThenFail: ParallelTask {
    var seconds: Double
    var fails: Bool
    func run() throws -> Int {
        usleep(UInt32(seconds * 1_000_000))
        if fails { throw ModelError(reason: "slow failure", index: 0) }
        return 1
    }
}

/// Leaves a file behind when it starts (counting starts across processes), may fail.
struct Marked: ParallelTask {
    var directory: String
    var index: Int
    var failAt: Int
    func run() throws -> Int {
        _ = FileManager.default.createFile(atPath: "\(directory)/\(index)", contents: nil)
        if index == failAt { throw ModelError(reason: "marked", index: index) }
        usleep(200)
        return index
    }
}

/// Sums a large shared array and says which worker did, and how many shared arrays that worker
/// had decoded by then (the same number for every task of one call: one copy per worker).
struct SumAndCountCopies: ParallelTask {
    var values: [Double]
    var part: Int
    func run() throws -> CopyReport {
        CopyReport(
            pid: getpid(), decoded: MappedArena.decodedCount.load(ordering: .relaxed), sum: values.reduce(0, +),
            first: values.first ?? -1)
    }
}

struct CopyReport: Codable, Sendable, Equatable {
    var pid: Int32
    var decoded: Int
    var sum: Double
    var first: Double
}
