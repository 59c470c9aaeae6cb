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

/// ``adviseHugePages(_:count:)`` for the whole pages inside `buffer` when it is at least 4 MiB
/// (madvise wants a page-aligned start; malloc's large blocks start a few bytes into a page).
package func adviseHugePages(covering buffer: UnsafeMutableRawBufferPointer) {
    guard buffer.count >= 4 << 20, let base = buffer.baseAddress else { return }
    let page = systemPageSize
    let start = (Int(bitPattern: base) + page - 1) / page * page
    let end = (Int(bitPattern: base) + buffer.count) / page * page
    guard end > start, let aligned = UnsafeMutableRawPointer(bitPattern: start) else { return }
    adviseHugePages(aligned, count: end - start)
}
