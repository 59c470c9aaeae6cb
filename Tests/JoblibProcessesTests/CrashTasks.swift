import Foundation
import JoblibParallel
import JoblibTestSupport

// Tasks of the process backend's crash scenarios (file scope: workers find them by name). The
// crash matrix's own tasks live in JoblibTestSupport (CrashMatrixTasks.swift).

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
