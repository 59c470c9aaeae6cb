import Joblib
import JoblibProcesses
import JoblibSystem
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

struct HelperTask: ParallelTask {
    var value: Int
    var crash: Bool = false
    var sleepSeconds: UInt32 = 0
    func run() throws -> Int {
        if crash { fatalError("helper task \(value) crashes on purpose") }
        if sleepSeconds > 0 { sleep(sleepSeconds) }
        return value * 2
    }
}

/// `fd-leaks`: open descriptors before and after calls that succeed, crash a worker and time
/// out, once the pool is shut down. The two numbers must be equal. The scenario runs once
/// first, so that process-wide services started on first use (the timeout watchdog, the
/// runtime's own descriptors) are already there when counting starts.
func runDescriptorLeakScenario() throws {
    func openDescriptors() -> Int { (try? directoryEntries("/proc/self/fd").count) ?? -1 }
    func scenario() throws {
        let parallel = Parallel(jobs: 2, backend: .processes)
        _ = try parallel.run((0..<100).map { HelperTask(value: $0) })
        _ = parallel.results((0..<4).map { HelperTask(value: $0, crash: $0 == 1) })
        _ = try? Parallel(jobs: 2, backend: .processes, timeout: .milliseconds(100)).run([HelperTask(value: 0, sleepSeconds: 30)])
        ProcessPool.shutDownAll()
    }
    // The count settles before it is taken: a crashed worker's standard error (held by its
    // backtracer for a moment) may still be open right after the first scenario.
    func settledDescriptors() -> Int {
        var last = openDescriptors()
        for _ in 0..<100 {
            usleep(50_000)
            let now = openDescriptors()
            if now == last { return now }
            last = now
        }
        return last
    }
    try scenario()
    let before = settledDescriptors()
    for _ in 0..<3 { try scenario() }
    // A crashed worker's backtrace (Swift's backtracer, a process of its own) can hold its
    // standard error open for a few seconds after the worker is gone; give it time to finish.
    var after = openDescriptors()
    for _ in 0..<200 where after != before {
        usleep(50_000)
        after = openDescriptors()
    }
    print("descriptors \(before) \(after)")
}
