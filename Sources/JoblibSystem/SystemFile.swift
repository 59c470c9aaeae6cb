#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import SystemPackage

/// The text of a small file that the kernel generates when it is read (/proc, /sys, cgroupfs:
/// CPU quotas, memory limits, a process's resident size); nil when it cannot be read or holds
/// more than `limit` bytes. Such files claim a size of 0 or 4096 whatever they hold, so they are
/// read until end of file.
package func readSystemFile(_ path: String, limit: Int = 1 << 16) -> String? {
    guard let fd = try? systemCall("open", path: path, { open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK) }) else { return nil }
    defer { close(fd) }
    guard let bytes = try? FileDescriptor(rawValue: fd).readWholeFile(size: 0, limit: limit, path: path) else { return nil }
    return String(decoding: bytes, as: UTF8.self)
}
