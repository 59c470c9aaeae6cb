import CJoblibSystem
import SystemPackage

/// An anonymous in-memory file (`memfd_create`): it has no name in any file system, so nothing
/// is left behind in `/dev/shm` or a temporary folder when its owner dies, however it dies.
/// Other processes reach it only through an inherited or passed descriptor.
package enum SharedMemoryFile {
    /// Creates an empty memory file of `size` bytes, close-on-exec.
    package static func create(name: String, size: Int, sealable: Bool = false) throws(SystemError) -> FileDescriptor {
        let raw = try systemCall("memfd_create") { joblib_memfd_create(name, sealable ? 1 : 0) }
        let fd = FileDescriptor(rawValue: raw)
        do {
            try fd.truncate(to: size)
        } catch {
            try? fd.close()
            throw error
        }
        return fd
    }

    /// Forbids any further change to the file's size or content, so readers can trust it.
    package static func sealReadOnly(_ fd: FileDescriptor) throws(SystemError) {
        _ = try systemCall("fcntl(F_ADD_SEALS)") { joblib_memfd_seal_readonly(fd.rawValue) }
    }
}
