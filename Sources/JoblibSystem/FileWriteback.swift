#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import CJoblibSystem
import SystemPackage

// sync_file_range(2) is a GNU extension that Swift's Glibc module does not import: CJoblibSystem
// wraps it.
private func syncFileRange(_ fd: Int32, _ offset: Int64, _ count: Int64, _ flags: UInt32) -> Int32 {
    joblib_sync_file_range(fd, offset, count, flags)
}
private let rangeWaitBefore: UInt32 = 1, rangeWrite: UInt32 = 2, rangeWaitAfter: UInt32 = 4 // SYNC_FILE_RANGE_*

extension FileDescriptor {
    /// Starts writing the dirty pages of a byte range to disk without waiting for it
    /// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`), so that the disk works while the caller goes on.
    /// Advice only: it does not make anything durable (`fsync` still must), and failures, or
    /// systems without the call, are ignored.
    package func startWriteback(offset: Int, count: Int) {
        guard count > 0 else { return }
        _ = syncFileRange(rawValue, Int64(offset), Int64(count), rangeWrite)
    }

    /// Writes the dirty pages of a byte range and waits until the disk has them (data only, no
    /// metadata: not a substitute for `fsync`). Bounds how much dirty data a large write leaves
    /// behind. Failures are ignored, as for ``startWriteback(offset:count:)``.
    package func waitForWriteback(offset: Int, count: Int) {
        guard count > 0 else { return }
        _ = syncFileRange(rawValue, Int64(offset), Int64(count), rangeWaitBefore | rangeWrite | rangeWaitAfter)
    }
}
