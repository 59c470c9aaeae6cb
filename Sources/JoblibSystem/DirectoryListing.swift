#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import SystemPackage

// The one directory lister: removing a temporary tree, scanning a cache's functions and entries.
// One directory stream per directory, names handed out without copying, and `fstatat` relative
// to the open directory, so that callers build no path per entry.

/// One entry of a directory being listed; valid only during the call that receives it.
package struct DirectoryEntry {
    /// The listed directory's descriptor, for `fstatat` relative to it.
    package let directory: Int32
    /// The entry's name, NUL-terminated.
    package let name: UnsafePointer<CChar>
    /// `d_type`: `DT_DIR`, `DT_REG`…, or `DT_UNKNOWN` on file systems that do not say.
    package let type: UInt8
    /// `d_ino`: the entry's inode number as the directory records it.
    package let inode: UInt64

    /// The name as a string (a copy).
    package var nameString: String { String(cString: name) }

    /// Whether the entry is a directory (not a link to one): `d_type` says so without a system
    /// call on ext4, xfs, btrfs and tmpfs; only file systems that report `DT_UNKNOWN` cost one
    /// `fstatat`.
    package var isDirectory: Bool {
        if type == UInt8(DT_DIR) { return true }
        guard type == UInt8(DT_UNKNOWN) else { return false }
        var info = stat()
        return fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }
}

/// Calls `body` with every entry of the directory `path` but `.` and `..`, in directory order.
///
/// - Throws: `SystemError` (`opendir`, whose `errno` says why: `noSuchFileOrDirectory` for a
///   missing directory, `notDirectory` for a file) when the directory cannot be opened, or
///   (`readdir`) when listing it fails part way.
package func forEachDirectoryEntry(_ path: FilePath, _ body: (DirectoryEntry) -> Void) throws(SystemError) {
    let fd = try systemCall("opendir", path: path.string) { open(path.string, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
    guard let stream = fdopendir(fd) else {
        let error = Errno.current
        close(fd)
        throw SystemError("opendir", path: path.string, errno: error)
    }
    defer { closedir(stream) }
    while true {
        // readdir returns nil both at the end and on failure; only errno tells them apart.
        errno = 0
        guard let entry = readdir(stream) else {
            if errno != 0 { throw SystemError("readdir", path: path.string, errno: .current) }
            return
        }
        let isDotOrDotDot = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            raw[0] == 0x2E && (raw[1] == 0 || (raw[1] == 0x2E && raw[2] == 0))
        }
        if isDotOrDotDot { continue }
        withUnsafeBytes(of: entry.pointee.d_name) { raw in
            body(DirectoryEntry(
                directory: fd, name: raw.baseAddress!.assumingMemoryBound(to: CChar.self), type: entry.pointee.d_type,
                inode: UInt64(entry.pointee.d_ino)))
        }
    }
}

/// The names in a directory, without `.` and `..`.
///
/// - Throws: `SystemError` as ``forEachDirectoryEntry(_:_:)``.
package func directoryEntries(_ path: FilePath) throws(SystemError) -> [String] {
    var names: [String] = []
    try forEachDirectoryEntry(path) { names.append($0.nameString) }
    return names
}
