import Foundation
import JoblibTestSupport
import Testing
@testable import JoblibSystem

@Suite(.timeLimit(.minutes(1))) struct CPUCountTests {
    @Test func cpuCountIsPositiveAndAtMostOnline() {
        let count = usableCPUCount()
        #expect(count >= 1)
        #expect(count <= ProcessInfo.processInfo.activeProcessorCount)
    }

    private func sources(
        online: Int = 8, affinity: Int? = 8, environment: [String: String] = [:], files: [String: String] = [:]
    ) -> CPUCountSources {
        CPUCountSources(onlineCPUs: online, affinityCPUs: affinity, environment: environment, readFile: { files[$0] })
    }

    @Test func affinityLimits() { #expect(sources(affinity: 3).cpuCount == 3) }

    @Test func environmentCap() {
        #expect(sources(environment: ["JOBLIB_MAX_CPU_COUNT": "2"]).cpuCount == 2)
        #expect(sources(environment: ["JOBLIB_MAX_CPU_COUNT": " 5\n"]).cpuCount == 5)
        // Nonsense and non-positive values are ignored rather than trusted.
        #expect(sources(environment: ["JOBLIB_MAX_CPU_COUNT": "0"]).cpuCount == 8)
        #expect(sources(environment: ["JOBLIB_MAX_CPU_COUNT": "lots"]).cpuCount == 8)
    }

    @Test func cgroupV2Quota() {
        let files = ["/proc/self/cgroup": "0::/user.slice/job\n", "/sys/fs/cgroup/user.slice/job/cpu.max": "150000 100000\n"]
        #expect(sources(files: files).cpuCount == 2)  // 1.5 CPUs round up
        let unlimited = ["/proc/self/cgroup": "0::/\n", "/sys/fs/cgroup/cpu.max": "max 100000\n"]
        #expect(sources(files: unlimited).cpuCount == 8)
        // A parent cgroup's quota also applies.
        let parent = ["/proc/self/cgroup": "0::/a/b\n", "/sys/fs/cgroup/a/cpu.max": "300000 100000"]
        #expect(sources(files: parent).cpuCount == 3)
        #expect(sources(affinity: 2, files: parent).cpuCount == 2)
    }

    @Test func cgroupV1Quota() {
        let files = [
            "/proc/self/cgroup": "12:memory:/docker/x\n4:cpu,cpuacct:/docker/x\n",
            "/sys/fs/cgroup/cpu,cpuacct/docker/x/cpu.cfs_quota_us": "50000\n",
            "/sys/fs/cgroup/cpu,cpuacct/docker/x/cpu.cfs_period_us": "100000\n",
        ]
        #expect(sources(files: files).cpuCount == 1)
        let unlimited = [
            "/proc/self/cgroup": "4:cpu,cpuacct:/\n",
            "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "-1\n",
            "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n",
        ]
        #expect(sources(files: unlimited).cpuCount == 8)
    }

    @Test func parseCPUMax() {
        #expect(CPUCountSources.parseCPUMax("200000 100000") == 2)
        #expect(CPUCountSources.parseCPUMax("max 100000") == nil)
        #expect(CPUCountSources.parseCPUMax("garbage") == nil)
        #expect(CPUCountSources.parseCPUMax("1000 100000") == 1)
    }

    /// The real thing: a child process pinned to one CPU with `taskset` sees one CPU.
    @Test(.enabled(if: TestSupport.which("taskset") != nil))
    func tasksetPinsToOneCPU() throws {
        let result = try TestSupport.run(
            TestSupport.which("taskset")!, ["-c", "0", TestSupport.helperExecutable.path, "cpu-count"])
        #expect(result.status == 0)
        #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        let capped = try TestSupport.run(
            TestSupport.helperExecutable, ["cpu-count"],
            environment: ProcessInfo.processInfo.environment.merging(["JOBLIB_MAX_CPU_COUNT": "1"]) { $1 })
        #expect(capped.output.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
    }
}
