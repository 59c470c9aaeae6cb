#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import CJoblibSystem
import SystemPackage

/// The number of CPUs this process may actually use (the public `cpuCount()` of JoblibParallel
/// answers this): the smallest of the CPUs online, the affinity mask, the cgroup's CPU quota and
/// `JOBLIB_MAX_CPU_COUNT`, and at least 1.
package func usableCPUCount() -> Int {
    CPUCountSources.live().cpuCount
}

/// Where ``usableCPUCount()`` takes its figures from; tests substitute fake files and environments.
package struct CPUCountSources {
    package var onlineCPUs: Int
    package var affinityCPUs: Int?
    package var environment: [String: String]
    /// Reads a small text file, or returns nil when it does not exist.
    package var readFile: (String) -> String?

    package init(
        onlineCPUs: Int, affinityCPUs: Int?, environment: [String: String], readFile: @escaping (String) -> String?
    ) {
        self.onlineCPUs = onlineCPUs
        self.affinityCPUs = affinityCPUs
        self.environment = environment
        self.readFile = readFile
    }

    package static func live() -> CPUCountSources {
        let online = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let affinity = Int(joblib_affinity_cpu_count())
        var environment: [String: String] = [:]
        if let value = getenv("JOBLIB_MAX_CPU_COUNT") {
            environment["JOBLIB_MAX_CPU_COUNT"] = String(cString: value)
        }
        return CPUCountSources(
            onlineCPUs: max(online, 1), affinityCPUs: affinity > 0 ? affinity : nil,
            environment: environment, readFile: { readSystemFile($0) })
    }

    package var cpuCount: Int {
        var count = onlineCPUs
        if let affinityCPUs { count = min(count, affinityCPUs) }
        if let quota = cgroupQuota { count = min(count, quota) }
        if let cap = environment["JOBLIB_MAX_CPU_COUNT"].flatMap({ Int($0.trimmed) }), cap > 0 {
            count = min(count, cap)
        }
        return max(count, 1)
    }

    /// The CPU quota of this process's cgroup and its ancestors, in whole CPUs rounded up.
    package var cgroupQuota: Int? {
        let membership = readFile("/proc/self/cgroup") ?? ""
        var quotas: [Int] = []
        for line in membership.split(separator: "\n") {
            // "hierarchy-ID:controllers:path"; v2 has ID 0 and no controllers.
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let controllers = fields[1].split(separator: ",")
            let path = String(fields[2])
            if fields[0] == "0" && fields[1].isEmpty {
                for directory in Self.selfAndAncestors("/sys/fs/cgroup", path) {
                    if let text = readFile(directory + "/cpu.max"), let quota = Self.parseCPUMax(text) {
                        quotas.append(quota)
                    }
                }
            } else if controllers.contains("cpu") {
                for mount in ["/sys/fs/cgroup/\(fields[1])", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"] {
                    for directory in Self.selfAndAncestors(mount, path) {
                        if let quota = readFile(directory + "/cpu.cfs_quota_us"),
                           let period = readFile(directory + "/cpu.cfs_period_us"),
                           let cpus = Self.quotaCPUs(quota: quota.trimmed, period: period.trimmed)
                        {
                            quotas.append(cpus)
                        }
                    }
                }
            }
        }
        return quotas.min()
    }

    /// `cpu.max` holds `"max 100000"` (no limit) or `"150000 100000"` (1.5 CPUs).
    package static func parseCPUMax(_ text: String) -> Int? {
        let parts = text.trimmed.split(separator: " ")
        guard parts.count == 2 else { return nil }
        return quotaCPUs(quota: String(parts[0]), period: String(parts[1]))
    }

    private static func quotaCPUs(quota: String, period: String) -> Int? {
        guard let quota = Int(quota), let period = Int(period), quota > 0, period > 0 else { return nil }
        return max(1, (quota + period - 1) / period)
    }

    /// `mount + path`, then each parent up to `mount` itself (a container sees its own cgroup as "/").
    private static func selfAndAncestors(_ mount: String, _ path: String) -> [String] {
        var components = path.split(separator: "/").map(String.init)
        var directories: [String] = []
        while true {
            directories.append(([mount] + components).joined(separator: "/"))
            if components.isEmpty { break }
            components.removeLast()
        }
        return directories
    }
}

extension String {
    fileprivate var trimmed: String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
