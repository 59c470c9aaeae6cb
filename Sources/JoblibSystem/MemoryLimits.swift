#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import CJoblibSystem
import SystemPackage

// How much memory this process may use: what bounds a load by default (JoblibPersistence), and
// an address-space limit for tests that check allocation failures are errors, not traps.

/// The machine's physical memory in bytes (`Int.max` if unknown).
package func physicalMemoryBytes() -> Int {
    let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
    guard pages > 0, pageSize > 0 else { return .max }
    let (bytes, overflow) = pages.multipliedReportingOverflow(by: pageSize)
    return overflow ? .max : bytes
}

/// The most memory this process can hope to use: the least of physical memory, the cgroup's
/// memory limit (v2 `memory.max`, v1 `memory.limit_in_bytes`) and `RLIMIT_AS`/`RLIMIT_DATA`.
package func memoryLimitBytes() -> Int {
    var limit = physicalMemoryBytes()
    let rlimit = joblib_address_space_limit()
    if rlimit < UInt64(Int.max) { limit = min(limit, Int(rlimit)) }
    for file in ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"] {
        guard let contents = readSystemFile(file),
              let value = Int(contents.trimmed(of: " \n"))
        else { continue }
        if value > 0 { limit = min(limit, value) }
    }
    return limit
}

/// Sets this process's address-space limit (`RLIMIT_AS`, soft and hard): allocations beyond it
/// fail. For tests run in a child process.
package func setAddressSpaceLimit(bytes: Int) throws(SystemError) {
    if joblib_set_address_space_limit(UInt64(bytes)) != 0 { throw SystemError("setrlimit(RLIMIT_AS)", errno: .current) }
}

extension String {
    fileprivate func trimmed(of set: String) -> String {
        var text = Substring(self)
        while let first = text.first, set.contains(first) { text.removeFirst() }
        while let last = text.last, set.contains(last) { text.removeLast() }
        return String(text)
    }
}
