import Foundation
import JoblibParallel

// Task types of the cluster backends' tests (Dask, Ray), written once; they also use the conformance
// suite's ConformanceSquare, ConformanceNap and ConformanceCrashOnce. Declared at file scope and
// public: the Swift workers on a cluster's nodes (this same test executable) find them by name.

/// Reports where it ran.
public struct ClusterWhereAmI: ParallelTask {
    public var index: Int
    public init(index: Int) { self.index = index }
    public func run() throws -> ClusterProbe {
        ClusterProbe(pid: getpid(), parent: getppid(), workerVariable: ProcessInfo.processInfo.environment["JOBLIB_WORKER"])
    }
}

/// Where a ``ClusterWhereAmI`` ran: its process, that process's parent, and `JOBLIB_WORKER`.
public struct ClusterProbe: Codable, Sendable, Equatable {
    public var pid: Int32
    public var parent: Int32
    public var workerVariable: String?
}

/// A Codable error: it arrives in the driver as itself.
public struct ClusterModelError: Error, Codable, Equatable {
    public var reason: String
    public var index: Int
    public init(reason: String, index: Int) {
        self.reason = reason
        self.index = index
    }
}

/// Not Codable: it arrives as RemoteTaskError.
public struct ClusterOpaqueError: Error, CustomStringConvertible {
    public var description: String { "opaque failure" }
}

/// How a ``ClusterFaulty`` ends.
public enum ClusterFailure: String, Codable, Sendable {
    case none, throwCodable, throwOpaque, trap
}

/// Returns its index, or fails as `failure` says.
public struct ClusterFaulty: ParallelTask {
    public var index: Int
    public var failure: ClusterFailure
    public init(index: Int, failure: ClusterFailure) {
        self.index = index
        self.failure = failure
    }
    public func run() throws -> Int {
        switch failure {
        case .none: return index
        case .throwCodable: throw ClusterModelError(reason: "bad input", index: index)
        case .throwOpaque: throw ClusterOpaqueError()
        case .trap: fatalError("task \(index) gave up")
        }
    }
}


/// A large argument (Dask scatters it, Ray puts it in its object store).
public struct ClusterChecksum: ParallelTask {
    public var bytes: [UInt8]
    public init(bytes: [UInt8]) { self.bytes = bytes }
    public func run() throws -> Int { bytes.reduce(0) { $0 &+ Int($1) } }
}

/// Returns `count` bytes that depend on `seed`: a large result (3 MB and more) on a cluster.
public struct ClusterBlob: ParallelTask {
    public var seed: Int
    public var count: Int
    public init(seed: Int, count: Int) {
        self.seed = seed
        self.count = count
    }
    public func run() throws -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &+ seed) } }
}

/// Sleeps, then returns `1000 + index` or throws: a late result of it is easy to tell apart.
public struct ClusterStep: ParallelTask {
    public var index: Int
    public var seconds: Double
    public var fails: Bool
    public init(index: Int, seconds: Double, fails: Bool) {
        self.index = index
        self.seconds = seconds
        self.fails = fails
    }
    public func run() throws -> Int {
        usleep(UInt32(seconds * 1_000_000))
        if fails { throw ClusterModelError(reason: "step failed", index: index) }
        return 1000 + index
    }
}

/// Appends a line with its process id to `<directory>/<index>` each time it runs (so a test
/// counts runs and finds the Swift worker that ran it), sleeps, then returns `index * 10` or traps.
public struct ClusterCounted: ParallelTask {
    public var directory: String
    public var index: Int
    public var seconds: Double
    public var traps: Bool
    public init(directory: String, index: Int, seconds: Double, traps: Bool) {
        self.directory = directory
        self.index = index
        self.seconds = seconds
        self.traps = traps
    }
    public func run() throws -> Int {
        let path = "\(directory)/\(index)"
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        let line = "\(getpid())\n"
        _ = line.withCString { write(fd, $0, strlen($0)) }
        close(fd)
        usleep(UInt32(seconds * 1_000_000))
        if traps { fatalError("task \(index) trapped") }
        return index * 10
    }

    /// How many times task `index` ran with `directory`.
    public static func runs(_ directory: String, _ index: Int) -> Int { pids(directory, index).count }

    /// The processes that ran task `index` with `directory`, one per run.
    public static func pids(_ directory: String, _ index: Int) -> [Int32] {
        ((try? String(contentsOfFile: "\(directory)/\(index)", encoding: .utf8)) ?? "").split(separator: "\n").compactMap { Int32($0) }
    }
}

