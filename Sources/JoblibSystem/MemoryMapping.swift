#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import SystemPackage

/// How a mapping may be used and whether writes reach the file.
package enum MappingAccess: Sendable {
    /// Read only; writing traps.
    case readOnly
    /// Writable, but writes stay private to this process.
    case copyOnWrite
    /// Writable, and writes reach the file.
    case readWrite
}

/// A region of a file mapped into memory, unmapped when the last reference goes away.
package final class MemoryMapping: @unchecked Sendable {
    // @unchecked: the region is immutable after init; concurrent writes through `.readWrite`
    // mappings are the caller's business, as with any shared memory.
    package let address: UnsafeMutableRawPointer?
    package let count: Int
    package let access: MappingAccess
    private let mappedLength: Int
    private let mappedBase: UnsafeMutableRawPointer?

    /// Maps `count` bytes of `fd` starting at `offset` (any offset; page alignment is handled).
    package init(fd: FileDescriptor, offset: Int, count: Int, access: MappingAccess) throws(SystemError) {
        self.count = count
        self.access = access
        guard count > 0 else {
            address = nil; mappedBase = nil; mappedLength = 0
            return
        }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let alignedOffset = offset - offset % page
        let slack = offset - alignedOffset
        let length = count + slack
        let protection: Int32 = access == .readOnly ? PROT_READ : PROT_READ | PROT_WRITE
        let flags: Int32 = access == .readWrite ? MAP_SHARED : MAP_PRIVATE
        let mapped: UnsafeMutableRawPointer? = try systemCall("mmap", failsWhen: { $0 == nil || $0 == MAP_FAILED }) {
            mmap(nil, length, protection, flags, fd.rawValue, off_t(alignedOffset))
        }
        let base = mapped!  // systemCall threw for nil
        mappedBase = base
        mappedLength = length
        address = base + slack
    }

    /// The mapped bytes.
    package var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: address, count: count) }

    /// The mapped bytes, writable (only for `.copyOnWrite` and `.readWrite`).
    package var mutableBytes: UnsafeMutableRawBufferPointer {
        precondition(access != .readOnly, "a read-only mapping cannot be written")
        return UnsafeMutableRawBufferPointer(start: address, count: count)
    }

    /// Writes dirty pages of a `.readWrite` mapping back to the file.
    package func flush() throws(SystemError) {
        guard let mappedBase, access == .readWrite else { return }
        _ = try systemCall("msync") { msync(mappedBase, mappedLength, MS_SYNC) }
    }

    deinit {
        if let mappedBase { munmap(mappedBase, mappedLength) }
    }
}
