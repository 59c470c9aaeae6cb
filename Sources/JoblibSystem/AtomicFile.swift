#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import SystemPackage

/// Writes a file so that readers see either the old content or the whole new content, never a
/// part: the bytes go to a temporary file in the same directory, which is then renamed over the
/// target. With `durable`, the data and the rename are flushed to disk (fsync of the file, then
/// of the directory), so a crash or power loss after return cannot lose the file either.
///
/// The temporary file is removed when `body` throws.
package func writeFileAtomically<R>(
    to path: FilePath,
    durable: Bool = true,
    permissions: FilePermissions = [.ownerReadWrite, .groupRead, .otherRead],
    _ body: (FileDescriptor) throws -> R
) throws -> R {
    let directory = path.removingLastComponent()
    let name = path.lastComponent?.string ?? "file"
    let temporary = directory.appending(".\(name).tmp-\(getpid())-\(UInt64.random(in: 0 ... .max))")
    let fd = FileDescriptor(rawValue: try systemCall("open", path: temporary.string) {
        open(temporary.string, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, permissions.rawValue)
    })
    var renamed = false
    defer {
        if !renamed { _ = unlink(temporary.string) }
    }
    let result: R
    do {
        result = try body(fd)
        if durable { try fd.sync() }
        try fd.close()
    } catch {
        try? fd.close()
        throw error
    }
    _ = try systemCall("rename", path: path.string) { rename(temporary.string, path.string) }
    renamed = true
    if durable { try syncDirectory(directory) }
    return result
}

/// Flushes a directory's entries (a rename or create inside it) to disk.
package func syncDirectory(_ directory: FilePath) throws(SystemError) {
    let path = directory.isEmpty ? "." : directory.string
    let fd = try systemCall("open", path: path) { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
    defer { close(fd) }
    _ = try systemCall("fsync", path: path) { fsync(fd) }
}
