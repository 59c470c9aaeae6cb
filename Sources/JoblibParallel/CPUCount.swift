import JoblibSystem

/// The number of CPUs this process may actually use.
///
/// The smallest of: the CPUs online, the CPUs in this process's affinity mask (`taskset`,
/// `sched_setaffinity`), the CPU quota of its cgroup (v2 `cpu.max`, v1 `cpu.cfs_quota_us` over
/// `cpu.cfs_period_us`, rounded up, as Docker's `--cpus` sets them) and the environment variable
/// `JOBLIB_MAX_CPU_COUNT` when it holds a positive integer. Always at least 1.
///
/// `Parallel(jobs: -1)` uses this many workers.
public func cpuCount() -> Int {
    usableCPUCount()
}
