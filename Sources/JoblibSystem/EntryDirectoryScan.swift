#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import SystemPackage

// `reduceSize`'s walk over every entry: one `getdents` stream per function directory and
// `fstatat` relative to it, with paths built in one reused buffer.

/// One entry directory found by `scanEntryDirectories`: its name and the status of two files in it.
package struct EntryDirectoryStatus: Sendable {
    /// The directory's name, 32 lowercase hex digits, as two 64-bit halves (high half first).
    package var high: UInt64
    package var low: UInt64
    /// The directory's inode number as its parent lists it (`d_ino`): a directory replaced by
    /// another of the same name has another number while both exist.
    package var inode: UInt64
    /// Whether the files were examined: false for the entries the caller chose to skip.
    package var examined: Bool
    /// The first file's size, access and modification times and inode; nil when it is missing.
    package var first: (size: Int, accessTime: Double, modificationTime: Double, inode: UInt64)?
    /// The second file's size (0 when missing, or when it was not asked for).
    package var secondSize: Int

    /// The directory's name.
    package var name: String {
        var bytes = [UInt8](repeating: 0, count: 32)
        for index in 0..<16 {
            let shift = UInt64(60 - 4 * index)
            bytes[index] = hexDigits[Int((high >> shift) & 0xF)]
            bytes[16 + index] = hexDigits[Int((low >> shift) & 0xF)]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

private let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

/// The subdirectories of `directory` named by 32 lowercase hex digits (cache entries), each with
/// the status of `first` and (when `second` is given) the size of `second` inside it.
///
/// `knownSecondSize` may supply the second file's size from what the caller saw before (given
/// the entry with its first file's status); `second` is only stat-ed when it returns nil.
/// `skip`, given each entry as listed (its name and inode), may exempt it from every `fstatat`:
/// it is returned with `examined` false, no first file and no second size, after the examined
/// entries, in the order `skip` was asked about it.
///
/// One directory stream and one `fstatat` per file relative to it: no path is built on the heap
/// and nothing is allocated per entry but its place in the result. Subdirectories are recognised
/// by `d_type` (one `fstatat` more only on file systems that report `DT_UNKNOWN`). A directory
/// that does not exist has no entries.
///
/// The `fstatat` calls are the whole cost (the kernel's path lookup; profiled): with many entries
/// and more than one usable CPU they run on two threads, each on its half of the entries.
package func scanEntryDirectories(
    _ directory: FilePath, first: String, second: String?,
    knownSecondSize: (EntryDirectoryStatus) -> Int? = { _ in nil },
    skip: ((EntryDirectoryStatus) -> Bool)? = nil
) throws(SystemError) -> [EntryDirectoryStatus] {
    // First the names (the one directory lister), then the files' status, relative to a
    // descriptor of the directory that the stat threads share.
    let fd: Int32
    do {
        fd = try systemCall("open", path: directory.string) { open(directory.string, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
    } catch where error.errno == .noSuchFileOrDirectory || error.errno == .notDirectory {
        return []
    }
    defer { close(fd) }
    var found: [EntryDirectoryStatus] = []
    var skipped: [EntryDirectoryStatus] = []
    try forEachDirectoryEntry(directory) { entry in
        // 32 hex digits then the terminating zero (a NUL is not a hex digit: nothing is read past it).
        var high: UInt64 = 0
        var low: UInt64 = 0
        for index in 0..<32 {
            let byte = UInt8(bitPattern: entry.name[index])
            let digit: UInt64
            switch byte {
            case 0x30...0x39: digit = UInt64(byte - 0x30)
            case 0x61...0x66: digit = UInt64(byte - 0x61 + 10)
            default: return
            }
            if index < 16 { high = high << 4 | digit } else { low = low << 4 | digit }
        }
        guard entry.name[32] == 0, entry.isDirectory else { return }
        var status = EntryDirectoryStatus(high: high, low: low, inode: entry.inode, examined: true, first: nil, secondSize: 0)
        if let skip, skip(status) {
            status.examined = false
            skipped.append(status)
        } else {
            found.append(status)
        }
    }
    // The skipped entries go last, so that the stat threads share only entries to examine.
    if !found.isEmpty { examine(&found, in: fd, first: first, second: second, knownSecondSize: knownSecondSize) }
    if found.isEmpty { return skipped }
    found.append(contentsOf: skipped)
    return found
}

/// Fills in the status of `first` and the size of `second` in each of `found`.
private func examine(
    _ found: inout [EntryDirectoryStatus], in fd: Int32, first: String, second: String?,
    knownSecondSize: (EntryDirectoryStatus) -> Int?
) {
    let firstName = Array(first.utf8)
    found.withUnsafeMutableBufferPointer { entries in
        forEachEntryInParallel(entries) { part in
            let path = StatPath(fileName: firstName)
            defer { path.deallocate() }
            var info = stat()
            for index in part.indices {
                path.setEntry(high: part[index].high, low: part[index].low)
                if fstatat(fd, path.path, &info, AT_SYMLINK_NOFOLLOW) == 0 {
                    part[index].first = (
                        Int(info.st_size),
                        Double(info.st_atim.tv_sec) + Double(info.st_atim.tv_nsec) / 1e9,
                        Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9,
                        UInt64(info.st_ino))
                }
            }
        }
    }
    guard let second else { return }
    // The second file only where the caller does not know its size already.
    var unknown: [Int] = []
    for index in found.indices {
        if let known = knownSecondSize(found[index]) { found[index].secondSize = known } else { unknown.append(index) }
    }
    guard !unknown.isEmpty else { return }
    let secondName = Array(second.utf8)
    // Each key travels with its own result slot: a thread's half is rebased (its indices start
    // at 0), so results must be written into the half itself, never by index into another array.
    var pending = unknown.map { (high: found[$0].high, low: found[$0].low, size: 0) }
    pending.withUnsafeMutableBufferPointer { pending in
        forEachEntryInParallel(pending) { part in
            let path = StatPath(fileName: secondName)
            defer { path.deallocate() }
            var info = stat()
            for index in part.indices {
                path.setEntry(high: part[index].high, low: part[index].low)
                if fstatat(fd, path.path, &info, AT_SYMLINK_NOFOLLOW) == 0 { part[index].size = Int(info.st_size) }
            }
        }
    }
    for (slot, index) in unknown.enumerated() { found[index].secondSize = pending[slot].size }
}

/// "<32 hex digits>/<file name>\0", the digits rewritten in place for every entry.
private struct StatPath {
    let path: UnsafeMutablePointer<CChar>

    init(fileName: [UInt8]) {
        path = .allocate(capacity: 34 + fileName.count)
        path[32] = 0x2F  // "/"
        for (index, byte) in fileName.enumerated() { path[33 + index] = CChar(bitPattern: byte) }
        path[33 + fileName.count] = 0
    }

    func setEntry(high: UInt64, low: UInt64) {
        for index in 0..<16 {
            let shift = UInt64(60 - 4 * index)
            path[index] = CChar(bitPattern: hexDigits[Int((high >> shift) & 0xF)])
            path[16 + index] = CChar(bitPattern: hexDigits[Int((low >> shift) & 0xF)])
        }
    }

    func deallocate() { path.deallocate() }
}

/// Below this many entries a second thread costs more than it saves.
private let parallelScanMinimum = 1_024
/// Whether this process may use more than one CPU, read once.
private let scanMayUseTwoThreads = usableCPUCount() > 1

/// Runs `body` over `items`: on this thread alone, or (many items, several CPUs) on this thread
/// over the first half and on a second, joined thread over the second half. The halves are
/// disjoint, so `body` may write to its part. If no thread can be started, this thread does both.
private func forEachEntryInParallel<T>(_ items: UnsafeMutableBufferPointer<T>, _ body: (UnsafeMutableBufferPointer<T>) -> Void) {
    guard items.count >= parallelScanMinimum, scanMayUseTwoThreads else { return body(items) }
    let middle = items.count / 2
    let firstHalf = UnsafeMutableBufferPointer(rebasing: items[..<middle])
    let secondHalf = UnsafeMutableBufferPointer(rebasing: items[middle...])
    withoutActuallyEscaping(body) { body in
        let work = ScanWork { body(secondHalf) }
        let context = Unmanaged.passRetained(work).toOpaque()
        var thread = pthread_t()
        let started = pthread_create(&thread, nil, { context in
            Unmanaged<ScanWork>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, context)
        if started != 0 {
            Unmanaged<ScanWork>.fromOpaque(context).release()
            body(firstHalf)
            body(secondHalf)
            return
        }
        body(firstHalf)
        pthread_join(thread, nil)
    }
}

/// The second thread's half of a scan; it only lives until the thread is joined.
private final class ScanWork: @unchecked Sendable {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}
