#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import CJoblibSystem
import SystemPackage

// Opening files that must hold data: what `load`, `joblib inspect|hash` and the cache read.
// A FIFO opened for reading blocks until a writer comes, a device like /dev/zero never ends, and
// /proc or /sys files claim a size of 0 while producing text: none of them is a file we can load,
// and a cache that anyone can write into must not let them hang its readers. So these files are
// opened with O_NONBLOCK (opening a FIFO then returns at once) and refused unless the descriptor
// names a regular file on a real file system.

/// The kind of a non-regular file for messages (`"a FIFO (named pipe)"`), nil for a regular file.
package func nonRegularFileKind(mode: mode_t) -> String? {
    switch mode & S_IFMT {
    case S_IFREG: return nil
    case S_IFDIR: return "a directory"
    case S_IFIFO: return "a FIFO (named pipe)"
    case S_IFCHR: return "a character device"
    case S_IFBLK: return "a block device"
    case S_IFSOCK: return "a socket"
    case S_IFLNK: return "a symbolic link"
    default: return "not a regular file"
    }
}

/// File systems whose files are made up when read (sizes of 0 or 4096 whatever they produce).
private let pseudoFileSystems: [Int64: String] = [
    0x9FA0: "/proc", 0x6265_6572: "sysfs", 0x6462_6720: "debugfs", 0x7472_6163: "tracefs",
    0x7363_6673: "securityfs", 0x0027_E0EB: "cgroup", 0x6367_7270: "cgroup2", 0x6265_6570: "configfs",
    0xDE5E_81E4: "efivarfs", 0xCAFE_4A11: "bpf", 0x6165_676C: "pstore", 0xF97C_FF8C: "selinuxfs",
]

/// Throws unless `info` (an `fstat` of an open descriptor) describes a regular file.
package func requireRegularFile(_ info: stat, path: String) throws(SystemError) {
    if let kind = nonRegularFileKind(mode: info.st_mode) {
        throw SystemError("open", path: path, errno: kind == "a directory" ? .isDirectory : .invalidArgument, notRegularFile: kind)
    }
}

/// Opens `path` without waiting for anything and returns it if it is a regular file on a real
/// file system; a FIFO, device, socket, directory or a /proc or /sys file throws a `SystemError`
/// whose `notRegularFile` says what it is. One `open`, one `fstat` and one `fstatfs`; the
/// descriptor keeps `O_NONBLOCK`, which regular files ignore.
package func openRegularFile(_ path: FilePath, _ mode: FileDescriptor.AccessMode) throws(SystemError) -> FileDescriptor {
    let fd = try systemCall("open", path: path.string) { path.withPlatformString { joblib_open_nonblocking($0, mode.rawValue, 0) } }
    do throws(SystemError) {
        var info = stat()
        _ = try systemCall("fstat", path: path.string) { fstat(fd, &info) }
        try requireRegularFile(info, path: path.string)
        let type = joblib_fstatfs_type(fd)
        if let name = pseudoFileSystems[type] {
            throw SystemError("open", path: path.string, errno: .invalidArgument, notRegularFile: "a file of \(name) (generated when read)")
        }
        // O_NONBLOCK stays: reads, writes and mmap of a regular file ignore it.
    } catch {
        close(fd)
        throw error
    }
    return FileDescriptor(rawValue: fd)
}

/// Opens a regular file as ``openRegularFile(_:_:)`` and closes it after `body`, also when it throws.
package func withRegularFile<R>(_ path: FilePath, _ mode: FileDescriptor.AccessMode, _ body: (FileDescriptor) throws -> R) throws -> R {
    let fd = try openRegularFile(path, mode)
    return try fd.closeAfter { try body(fd) }
}
