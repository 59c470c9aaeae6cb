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
///
/// One directory stream and one `fstatat` per file relative to it: no path is built on the heap
/// and nothing is allocated per entry but its place in the result. Subdirectories are recognised
/// by `d_type` (one `fstatat` more only on file systems that report `DT_UNKNOWN`). A directory
/// that does not exist has no entries.
package func scanEntryDirectories(
    _ directory: FilePath, first: String, second: String?,
    knownSecondSize: (EntryDirectoryStatus) -> Int? = { _ in nil }
) throws(SystemError) -> [EntryDirectoryStatus] {
    let firstName = Array(first.utf8)
    let secondName = second.map { Array($0.utf8) } ?? []
    // "<32 hex digits>/<file name>\0", rewritten in place for every entry.
    let pathBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: 34 + max(firstName.count, secondName.count))
    defer { pathBuffer.deallocate() }
    pathBuffer[32] = 0x2F  // "/"
    func fileName(_ name: [UInt8]) {
        for (index, byte) in name.enumerated() { pathBuffer[33 + index] = CChar(bitPattern: byte) }
        pathBuffer[33 + name.count] = 0
    }
    var found: [EntryDirectoryStatus] = []
    var info = stat()
    do {
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
                pathBuffer[index] = CChar(bitPattern: byte)
            }
            guard entry.name[32] == 0, entry.isDirectory else { return }
            let fd = entry.directory
            var status = EntryDirectoryStatus(high: high, low: low, first: nil, secondSize: 0)
            fileName(firstName)
            if fstatat(fd, pathBuffer, &info, AT_SYMLINK_NOFOLLOW) == 0 {
                status.first = (
                    Int(info.st_size),
                    Double(info.st_atim.tv_sec) + Double(info.st_atim.tv_nsec) / 1e9,
                    Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9,
                    UInt64(info.st_ino))
            }
            if let known = knownSecondSize(status) {
                status.secondSize = known
            } else if second != nil {
                fileName(secondName)
                if fstatat(fd, pathBuffer, &info, AT_SYMLINK_NOFOLLOW) == 0 { status.secondSize = Int(info.st_size) }
            }
            found.append(status)
        }
    } catch where error.operation == "opendir" && (error.errno == .noSuchFileOrDirectory || error.errno == .notDirectory) {
        return []
    }
    return found
}
