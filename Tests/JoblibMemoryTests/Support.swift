import Foundation
import JoblibMemory
import JoblibPersistence
import JoblibSystem
import JoblibTypes
import Synchronization
import SystemPackage

/// Counts how often a cached function really ran.
final class CallCounter: Sendable {
    private let count = Mutex(0)
    func tick() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}

/// Collects the warnings a Memory reports.
final class WarningLog: Sendable {
    private let warnings = Mutex<[MemoryWarning]>([])
    var handler: @Sendable (MemoryWarning) -> Void { { warning in self.warnings.withLock { $0.append(warning) } } }
    var codes: [MemoryWarning.Code] { warnings.withLock { $0.map(\.code) } }
    var all: [MemoryWarning] { warnings.withLock { $0 } }
}

/// A fresh cache directory with a quiet Memory in it and a warning log.
struct Fixture {
    let directory: TemporaryDirectory
    let warnings = WarningLog()
    let memory: Memory

    init(compression: Compression = .none, mapping: MappingMode? = nil, bytesLimit: ByteCount? = nil) throws {
        directory = try TemporaryDirectory(prefix: "joblib-memory-test")
        memory = Memory(location: directory.path, compression: compression, mapping: mapping,
                        bytesLimit: bytesLimit, verbose: 0, onWarning: warnings.handler)
    }

    var path: String { directory.path.string }

    /// The entry directories of `function`.
    func entries(_ function: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "\(path)/joblib/\(function)")) ?? []
        return names.filter { $0.count == 32 && !$0.hasPrefix(".") }.sorted()
    }

    /// Everything in `function`'s directory, hidden names included.
    func allNames(_ function: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "\(path)/joblib/\(function)")) ?? []).sorted()
    }

    func output(_ function: String, _ entry: String) -> String { "\(path)/joblib/\(function)/\(entry)/output.joblib" }
}

/// Sets an entry's last access (its output's access time) to `secondsAgo` in the past.
func age(_ outputPath: String, accessedSecondsAgo: Double) throws {
    try setAccessTime(FilePath(outputPath), to: Date().timeIntervalSince1970 - accessedSecondsAgo)
}
