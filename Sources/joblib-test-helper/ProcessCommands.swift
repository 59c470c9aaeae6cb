import Joblib
#if canImport(Glibc)
import Glibc
#endif

/// Sleeps in a worker process after telling the test its pid on standard output.
struct AnnouncedSleep: ParallelTask {
    var seconds: UInt32
    func run() throws -> Int {
        print("worker \(getpid())")
        fflush(nil)
        sleep(seconds)
        return 0
    }
}

/// `orphans`: starts two workers that sleep, then waits; the test kills this process with
/// SIGKILL and checks that the workers go away on their own.
func runOrphanScenario() throws {
    print("parent \(getpid())")
    fflush(nil)
    _ = try Parallel(jobs: 2, backend: .processes, batchSize: .fixed(1)).run([AnnouncedSleep(seconds: 60), AnnouncedSleep(seconds: 60)])
}
