import Foundation
import JoblibParallel

// Task types must be declared at file scope: the Swift workers on the Dask workers find them by name.

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

/// A large argument: it travels through Dask's scatter.
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
