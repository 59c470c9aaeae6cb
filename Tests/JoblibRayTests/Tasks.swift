import Foundation
import JoblibParallel

// Task types must be declared at file scope: the Swift workers in the Ray actors find them by name.

struct Square: ParallelTask {
    var value: Int
    func run() throws -> Int { value * value }
}

/// Reports where it ran.
struct WhereAmI: ParallelTask {
    var index: Int
    func run() throws -> Probe {
        Probe(pid: getpid(), parent: getppid(), workerVariable: ProcessInfo.processInfo.environment["JOBLIB_WORKER"])
    }
}

struct Probe: Codable, Sendable, Equatable {
    var pid: Int32
    var parent: Int32
    var workerVariable: String?
}

/// A Codable error: it arrives in the driver as itself.
struct ModelError: Error, Codable, Equatable {
    var reason: String
    var index: Int
}

/// Not Codable: it arrives as RemoteTaskError.
struct OpaqueError: Error, CustomStringConvertible {
    var description: String { "opaque failure" }
}

enum Failure: String, Codable, Sendable {
    case none, throwCodable, throwOpaque, trap
}

struct Faulty: ParallelTask {
    var index: Int
    var failure: Failure
    func run() throws -> Int {
        switch failure {
        case .none: return index
        case .throwCodable: throw ModelError(reason: "bad input", index: index)
        case .throwOpaque: throw OpaqueError()
        case .trap: fatalError("task \(index) gave up")
        }
    }
}

/// Sleeps, then returns its index (work that takes wall time without using a core).
struct Nap: ParallelTask {
    var index: Int
    var seconds: Double
    func run() throws -> Int {
        usleep(UInt32(seconds * 1_000_000))
        return index
    }
}

/// A large argument (through Ray's object store: over 100 KB).
struct Checksum: ParallelTask {
    var bytes: [UInt8]
    func run() throws -> Int { bytes.reduce(0) { $0 &+ Int($1) } }
}

/// Sleeps, then returns `1000 + index` or throws: a late result of it is easy to tell apart.
struct Step: ParallelTask {
    var index: Int
    var seconds: Double
    var fails: Bool
    func run() throws -> Int {
        usleep(UInt32(seconds * 1_000_000))
        if fails { throw ModelError(reason: "step failed", index: index) }
        return 1000 + index
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

/// The nesting level its body sees (a nested call in a task runs sequentially).
struct Nesting: ParallelTask {
    var index: Int
    func run() throws -> Int { ParallelConfiguration.current.nestingLevel }
}

/// Appends a line to `<directory>/<index>` each time it runs (so a test counts runs), sleeps,
/// then returns `index * 10` or traps.
struct Counted: ParallelTask {
    var directory: String
    var index: Int
    var seconds: Double
    var traps: Bool
    func run() throws -> Int {
        let path = "\(directory)/\(index)"
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        _ = write(fd, "x\n", 2)
        close(fd)
        usleep(UInt32(seconds * 1_000_000))
        if traps { fatalError("task \(index) trapped") }
        return index * 10
    }

    static func runs(_ directory: String, _ index: Int) -> Int {
        ((try? String(contentsOfFile: "\(directory)/\(index)", encoding: .utf8)) ?? "").split(separator: "\n").count
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
