#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import CJoblibSystem
import SystemPackage

// File operations the disk cache (JoblibMemory) needs beyond AtomicFile and TemporaryDirectory:
// reading a small file together with its times, touching an access time, publishing a
// directory with one rename, and scanning entry directories with fstatat.

/// Times and size of a file, as `stat` reports them.
package struct FileStatus: Sendable, Equatable {
    /// Size in bytes.
    package var size: Int
    /// Last access, in seconds since 1970.
    package var accessTime: Double
    /// Last modification, in seconds since 1970.
    package var modificationTime: Double
    /// Whether the path is a directory.
    package var isDirectory: Bool
    /// Whether the path is a regular file (not a directory, FIFO, device or socket).
    package var isRegularFile: Bool

    init(_ info: stat) {
        size = Int(info.st_size)
        accessTime = Double(info.st_atim.tv_sec) + Double(info.st_atim.tv_nsec) / 1e9
        modificationTime = Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9
        isDirectory = info.st_mode & S_IFMT == S_IFDIR
        isRegularFile = info.st_mode & S_IFMT == S_IFREG
    }
}

/// The current time in seconds since 1970 (CLOCK_REALTIME, the clock file times use).
package func wallClockSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// The status of `path` (following symbolic links), or nil when nothing is there.
package func fileStatus(_ path: FilePath) throws(SystemError) -> FileStatus? {
    var info = stat()
    let found = try systemCall("stat", path: path.string, nilOn: [.noSuchFileOrDirectory, .notDirectory]) { stat(path.string, &info) }
    return found == nil ? nil : FileStatus(info)
}

/// What `readSmallFile` found.
package struct FileContents: Sendable {
    /// The whole file.
    package var bytes: [UInt8]
    /// Its status before reading.
    package var status: FileStatus
    /// Whether the access time was set to now (it is only when older than `touchOlderThan`).
    package var touched: Bool
    /// Why setting the access time failed, if it did (a read-only file system, say).
    package var touchError: SystemError?
}

/// Reads a whole file and returns it with its times; nil when the file does not exist.
///
/// When the file's access time is more than `touchOlderThan` seconds old, it is set to now
/// (the modification time is left alone): one `futimens` call instead of rewriting anything, and
/// none at all for repeated reads within that window.
///
/// The file is opened without blocking and must be a regular file (a FIFO or a device throws,
/// with `notRegularFile` set) of at most `limit` bytes (`fileTooLarge` otherwise).
package func readSmallFile(_ path: FilePath, touchOlderThan: Double?, limit: Int = 64 << 20) throws(SystemError) -> FileContents? {
    guard let fd = try systemCall("open", path: path.string, nilOn: [.noSuchFileOrDirectory, .notDirectory], {
        joblib_open_nonblocking(path.string, O_RDONLY, 0)
    }) else { return nil }
    defer { close(fd) }
    var info = stat()
    _ = try systemCall("fstat", path: path.string) { fstat(fd, &info) }
    try requireRegularFile(info, path: path.string)
    let status = FileStatus(info)
    let bytes = try FileDescriptor(rawValue: fd).readWholeFile(size: status.size, limit: limit, path: path.string)
    var touched = false
    var touchError: SystemError?
    if let touchOlderThan, wallClockSeconds() - status.accessTime > touchOlderThan {
        var times = [timespec(tv_sec: 0, tv_nsec: utimeNow), timespec(tv_sec: 0, tv_nsec: utimeOmit)]
        do throws(SystemError) {
            _ = try systemCall("futimens", path: path.string) { futimens(fd, &times) }
            touched = true
        } catch {
            touchError = error
        }
    }
    return FileContents(bytes: bytes, status: status, touched: touched, touchError: touchError)
}

// <sys/stat.h> defines these as macro expressions that Swift does not import.
private let utimeNow = (1 << 30) - 1
private let utimeOmit = (1 << 30) - 2

/// Creates a directory and any missing parents; an existing directory is not an error.
package func makeDirectories(_ path: FilePath, permissions: mode_t = 0o755) throws(SystemError) {
    do {
        _ = try systemCall("mkdir", path: path.string) { mkdir(path.string, permissions) }
    } catch where error.errno == .fileExists {
        if let status = try fileStatus(path), status.isDirectory { return }
        throw SystemError("mkdir", path: path.string, errno: .notDirectory)
    } catch where error.errno == .noSuchFileOrDirectory && !path.removingLastComponent().isEmpty {
        try makeDirectories(path.removingLastComponent(), permissions: permissions)
        // Someone else may create it meanwhile: that is success too.
        _ = try systemCall("mkdir", path: path.string, nilOn: [.fileExists]) { mkdir(path.string, permissions) }
    }
}

/// Renames a directory to a name that must not hold a non-empty directory yet.
///
/// Returns false, leaving both in place, when `target` already exists and is not empty (someone
/// else published it first); other failures throw.
package func publishDirectory(_ source: FilePath, as target: FilePath) throws(SystemError) -> Bool {
    try systemCall("rename", path: target.string, nilOn: [.directoryNotEmpty, .fileExists]) {
        rename(source.string, target.string)
    } != nil
}

/// Renames `source` to `target`; false when `source` does not exist.
package func renameIfPresent(_ source: FilePath, to target: FilePath) throws(SystemError) -> Bool {
    try systemCall("rename", path: source.string, nilOn: [.noSuchFileOrDirectory]) { rename(source.string, target.string) } != nil
}

/// One subdirectory found by `scanSubdirectories`, with the status of chosen files inside it.
package struct SubdirectoryScan: Sendable {
    /// The subdirectory's name.
    package var name: String
    /// The status of each requested file inside it, nil where the file is missing.
    package var files: [FileStatus?]
}

/// Lists the subdirectories of `path` whose names pass `filter`, with one `fstatat` per requested
/// file inside each (no path strings are built per file, no directory is opened per entry).
package func scanSubdirectories(
    _ path: FilePath, files: [String], filter: (String) -> Bool
) throws(SystemError) -> [SubdirectoryScan] {
    var found: [SubdirectoryScan] = []
    do {
        try forEachDirectoryEntry(path) { entry in
            let name = entry.nameString
            guard filter(name), entry.isDirectory else { return }
            var statuses: [FileStatus?] = []
            statuses.reserveCapacity(files.count)
            for file in files {
                var fileInfo = stat()
                statuses.append(fstatat(entry.directory, "\(name)/\(file)", &fileInfo, AT_SYMLINK_NOFOLLOW) == 0 ? FileStatus(fileInfo) : nil)
            }
            found.append(SubdirectoryScan(name: name, files: statuses))
        }
    } catch where error.errno == .noSuchFileOrDirectory && error.operation == "opendir" {
        return []
    }
    return found
}

/// Sets the access time of `path` to now, leaving its modification time alone.
package func touchAccessTime(_ path: FilePath) throws(SystemError) {
    var times = [timespec(tv_sec: 0, tv_nsec: utimeNow), timespec(tv_sec: 0, tv_nsec: utimeOmit)]
    _ = try systemCall("utimensat", path: path.string) { utimensat(AT_FDCWD, path.string, &times, 0) }
}

/// Sets the access time of `path` to `seconds` since 1970, leaving its modification time alone.
package func setAccessTime(_ path: FilePath, to seconds: Double) throws(SystemError) {
    let whole = seconds.rounded(.down)
    var times = [timespec(tv_sec: Int(whole), tv_nsec: Int((seconds - whole) * 1e9)), timespec(tv_sec: 0, tv_nsec: utimeOmit)]
    _ = try systemCall("utimensat", path: path.string) { utimensat(AT_FDCWD, path.string, &times, 0) }
}

/// Writes `text` to a new file at `path` (which must not exist), without syncing.
package func writeNewFile(_ path: FilePath, _ text: String) throws(SystemError) {
    let fd = try systemCall("open", path: path.string) { open(path.string, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644) }
    defer { close(fd) }
    let bytes = Array(text.utf8)
    var done = 0
    while done < bytes.count {
        let offset = done
        done += try systemCall("write", path: path.string) {
            bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        }
    }
}
