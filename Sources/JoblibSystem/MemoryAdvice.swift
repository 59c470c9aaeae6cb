#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// Asks the kernel to back a large buffer with transparent huge pages (fewer page faults when it
/// is first filled: numpy does the same for its large arrays). Advice only: failures are ignored.
package func adviseHugePages(_ start: UnsafeMutableRawPointer, count: Int) {
    _ = madvise(start, count, MADV_HUGEPAGE)
}
