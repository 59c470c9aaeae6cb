#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import CJoblibSystem
import Synchronization
import SystemPackage

// The cache's hot path (JoblibMemory): reading one entry's output on a hit with as few system
// calls and allocations as possible.

/// An open directory, to open and stat files relative to it: the kernel then walks two path
/// components (`<key>/output.joblib`) instead of the whole location.
///
/// The descriptor stays valid if the directory is renamed or removed; callers that must see
/// such changes ask ``leads(from:)`` whether the path still names it, or reopen it by path when
/// a lookup inside it fails (see `CachedFunctionCore`).
package final class DirectoryHandle: Sendable {
    package let fd: CInt
    /// The directory's identity (`st_dev`, `st_ino`), to recognise a replacement at its path.
    private let device: UInt64
    private let inode: UInt64
    /// `coarseMonotonicNanoseconds()` when the path was last seen to name this directory.
    private let confirmedAt: Atomic<UInt64>

    /// Opens `path` as a directory; nil when it does not exist (or is not a directory).
    package init?(_ path: FilePath) throws(SystemError) {
        let opened = try systemCall("open", path: path.string, nilOn: [.noSuchFileOrDirectory, .notDirectory]) {
            open(path.string, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        }
        guard let opened else { return nil }
        var info = stat()
        do throws(SystemError) {
            _ = try systemCall("fstat", path: path.string) { fstat(opened, &info) }
        } catch {
            close(opened)
            throw error
        }
        fd = opened
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        confirmedAt = Atomic(coarseMonotonicNanoseconds())
    }

    deinit { close(fd) }

    /// Whether `path` was seen to name this directory less than `interval` nanoseconds ago.
    @inline(__always)
    package func isConfirmed(within interval: UInt64) -> Bool {
        coarseMonotonicNanoseconds() &- confirmedAt.load(ordering: .relaxed) < interval
    }

    /// Whether `path` still names this directory (one `stat`): false when it was removed, or
    /// replaced (renamed away, another directory made or renamed in its place), or cannot be
    /// examined. Records the time when it does.
    package func leads(from path: FilePath) -> Bool {
        var info = stat()
        guard stat(path.string, &info) == 0, UInt64(info.st_dev) == device, UInt64(info.st_ino) == inode else { return false }
        confirmedAt.store(coarseMonotonicNanoseconds(), ordering: .relaxed)
        return true
    }
}

/// Nanoseconds of `CLOCK_MONOTONIC_COARSE` (the last timer tick, a few milliseconds fine): read
/// from memory the kernel shares, never a system call, which a hit can afford.
@inline(__always)
package func coarseMonotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC_COARSE, &time)
    return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
}

/// `O_NOATIME` (Linux, same value on every architecture Swift supports): reads do not update the
/// access time, which the cache sets itself only when it is older than its resolution. Refused (`EPERM`)
/// for files owned by another user, after which it is not tried again.
private let openNoAccessTime: CInt = 0o1000000
private let noAccessTimeRefused = Atomic<Bool>(false)

/// What `withSmallFile` did besides reading.
package struct SmallFileRead: Sendable {
    /// The file's status before reading.
    package var status: FileStatus
    /// Whether the access time was set to now.
    package var touched: Bool
    /// Why setting the access time failed, if it did (a read-only file system, say).
    package var touchError: SystemError?
}

/// Reads the whole file `path` (relative to the directory `directory`, or to the working
/// directory for `AT_FDCWD`) into a temporary buffer and passes it to `body`; nil when the file
/// does not exist. A generic convenience over ``readSmallFile(in:path:touchOlderThan:limit:needsStatus:_:)``,
/// which the cache's hit path calls directly (a generic function of another module is not
/// specialized for its caller: each call would look up `R?`'s metadata at run time).
package func withSmallFile<R>(
    in directory: CInt, path: UnsafePointer<CChar>, touchOlderThan: Double?, limit: Int = .max,
    _ body: (UnsafeRawBufferPointer, SmallFileRead) throws -> R
) throws -> R? {
    var result: R?
    guard try readSmallFile(in: directory, path: path, touchOlderThan: touchOlderThan, limit: limit, { result = try body($0, $1!) }) else {
        return nil
    }
    return result
}

/// How many bytes a read without status (`needsStatus: false`) tries at once, on the stack: a
/// shorter file is read whole by one `pread`.
package let statuslessReadSize = 4096

/// Reads the whole file `path` (relative to the directory `directory`, or to the working
/// directory for `AT_FDCWD`) into a temporary buffer and passes it to `body`; false when the
/// file does not exist (`body` is not called).
///
/// System calls: `openat` (with `O_NOATIME` when allowed), `fstat`, one `read` of the whole
/// file, `futimens` only when the access time is more than `touchOlderThan` seconds old, `close`.
/// Files up to 4 KiB are read into stack memory. `body` runs after the file is closed; the
/// buffer is only valid during the call. Not generic: the cache's hit path calls it directly.
///
/// Without `needsStatus` (a caller that needs neither the times nor a touch: the cache's hit on
/// an entry it knows was accessed recently), the `fstat` is left out when one `pread` of
/// `statuslessReadSize` bytes comes back short: `body` then gets the bytes and no status. Only a
/// regular file reads that way (a FIFO, a socket or a directory fails the `pread`, `/dev/null`
/// reads nothing, `/dev/zero` fills the buffer); anything else (a failed or empty or full read)
/// continues as with `needsStatus`, which refuses what is not a regular file. When `body` throws
/// on such bytes, the file is opened and read again with its status and `body` called once more,
/// so that what it finally reports (a damaged file, a device) comes from the checked read.
package func readSmallFile(
    in directory: CInt, path: UnsafePointer<CChar>, touchOlderThan: Double?, limit: Int, needsStatus: Bool = true,
    _ body: (UnsafeRawBufferPointer, SmallFileRead?) throws -> Void
) throws -> Bool {
    guard var fd = try openEntry(in: directory, path) else { return false }
    if !needsStatus {
        switch readWithoutStatus(fd, path, limit: limit, body) {
        case .done: return true
        case .needsStatus: break
        case .rejected:
            // `body` refused the bytes: read again, checked, so that its final answer is the checked one.
            guard let again = try openEntry(in: directory, path) else { return false }
            fd = again
        }
    }
    try readWithStatus(fd, path, touchOlderThan: touchOlderThan, limit: limit, body)
    return true
}

/// What a read without status did.
private enum StatuslessRead {
    /// `body` took the bytes; the file is closed.
    case done
    /// The file was not read whole by one short `pread`; it is still open.
    case needsStatus
    /// `body` threw on the bytes; the file is closed.
    case rejected
}

/// One `pread` of up to `statuslessReadSize` bytes; a short one is the whole file (see
/// `readSmallFile`), handed to `body` after `close`.
private func readWithoutStatus(
    _ fd: CInt, _ path: UnsafePointer<CChar>, limit: Int, _ body: (UnsafeRawBufferPointer, SmallFileRead?) throws -> Void
) -> StatuslessRead {
    withUnsafeTemporaryAllocation(byteCount: statuslessReadSize, alignment: 64) { buffer in
        let got: Int
        do throws(SystemError) {
            got = try entryCall("read", path) { pread(fd, buffer.baseAddress!, statuslessReadSize, 0) }
        } catch {
            // A FIFO (ESPIPE), a directory (EISDIR), an I/O error: the checked read says what it is.
            return .needsStatus
        }
        guard got > 0, got < statuslessReadSize, got <= limit else { return .needsStatus }
        close(fd)
        do {
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<got]), nil)
            return .done
        } catch {
            return .rejected
        }
    }
}

/// The checked read: `fstat` (a regular file of at most `limit` bytes), the whole file, the
/// access time set when older than `touchOlderThan`, `close`, then `body`. Closes `fd`.
private func readWithStatus(
    _ fd: CInt, _ path: UnsafePointer<CChar>, touchOlderThan: Double?, limit: Int,
    _ body: (UnsafeRawBufferPointer, SmallFileRead?) throws -> Void
) throws {
    var closed = false
    defer { if !closed { close(fd) } }
    var info = stat()
    _ = try entryCall("fstat", path) { fstat(fd, &info) }
    // The path's text is only built for the error.
    if info.st_mode & S_IFMT != S_IFREG { try requireRegularFile(info, path: String(cString: path)) }
    var read = SmallFileRead(status: FileStatus(info), touched: false, touchError: nil)
    let size = read.status.size
    guard size <= limit else { throw SystemError("read", path: String(cString: path), errno: .fileTooLarge) }
    try withReadBuffer(byteCount: size) { buffer in
        var count = 0
        while count < size {
            let got = try entryCall("read", path) { pread(fd, buffer.baseAddress! + count, size - count, count) }
            if got == 0 { break }
            count += got
        }
        if let touchOlderThan, wallClockSeconds() - read.status.accessTime > touchOlderThan {
            var times = (timespec(tv_sec: 0, tv_nsec: utimeNow), timespec(tv_sec: 0, tv_nsec: utimeOmit))
            let result = withUnsafePointer(to: &times) { $0.withMemoryRebound(to: timespec.self, capacity: 2) { futimens(fd, $0) } }
            if result == 0 {
                read.touched = true
            } else {
                read.touchError = SystemError("futimens", path: String(cString: path), errno: .current)
            }
        }
        close(fd)
        closed = true
        try body(UnsafeRawBufferPointer(rebasing: buffer[0..<count]), read)
    }
}

/// Opens a cache entry's file for reading (`O_NONBLOCK`, and `O_NOATIME` where allowed); nil
/// when it (or a directory on the way) does not exist.
private func openEntry(in directory: CInt, _ path: UnsafePointer<CChar>) throws(SystemError) -> CInt? {
    if !noAccessTimeRefused.load(ordering: .relaxed) {
        do throws(SystemError) {
            return try openEntry(in: directory, path, O_RDONLY | openNoAccessTime)
        } catch {
            guard error.errno == .notPermitted else { throw error }
            noAccessTimeRefused.store(true, ordering: .relaxed)
        }
    }
    return try openEntry(in: directory, path, O_RDONLY)
}

/// Opens a cache entry's file; nil when it (or a directory on the way) does not exist.
private func openEntry(in directory: CInt, _ path: UnsafePointer<CChar>, _ flags: CInt) throws(SystemError) -> CInt? {
    do throws(SystemError) {
        return try entryCall("open", path) { joblib_openat_nonblocking(directory, path, flags) }
    } catch {
        if error.errno == .noSuchFileOrDirectory || error.errno == .notDirectory { return nil }
        throw error
    }
}

/// ``systemCall(_:path:_:)`` naming `path` only when the call fails: a cache hit builds no String.
@inline(__always)
private func entryCall<Result: FixedWidthInteger>(
    _ operation: String, _ path: UnsafePointer<CChar>, _ body: () -> Result
) throws(SystemError) -> Result {
    do throws(SystemError) {
        return try systemCall(operation, body)
    } catch {
        throw SystemError(operation, path: String(cString: path), errno: error.errno)
    }
}

/// Temporary memory for a read: on the stack when small, else from malloc, whose failure (a huge
/// file under a memory limit) throws `ENOMEM` instead of stopping the process.
private func withReadBuffer(byteCount: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> Void) throws {
    if byteCount <= 4096 {
        return try withUnsafeTemporaryAllocation(byteCount: max(byteCount, 1), alignment: 64, body)
    }
    guard let memory = malloc(byteCount) else { throw SystemError("malloc", errno: .noMemory) }
    defer { free(memory) }
    return try body(UnsafeMutableRawBufferPointer(start: memory, count: byteCount))
}

// <sys/stat.h> defines these as macro expressions that Swift does not import.
private let utimeNow = (1 << 30) - 1
private let utimeOmit = (1 << 30) - 2
