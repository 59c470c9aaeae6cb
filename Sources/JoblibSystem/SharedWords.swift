import CJoblibSystem
import SystemPackage

/// A few 64-bit words in an anonymous shared-memory file, read and written atomically by two
/// processes: a worker says which task it is running without a system call, and its parent
/// still knows after the worker died.
package final class SharedWords: @unchecked Sendable {
    // @unchecked: every access to the words goes through the atomic C functions below.
    private let mapping: MemoryMapping
    /// The descriptor of the memory file (the parent passes it to the child; close it after).
    package let fd: FileDescriptor?

    package static let capacity = 8

    /// Creates the words, zeroed, with a descriptor to hand to a child.
    package init() throws(SystemError) {
        let fd = try SharedMemoryFile.create(name: "joblib-status", size: 4096)
        do {
            mapping = try MemoryMapping(fd: fd, offset: 0, count: 4096, access: .readWrite)
        } catch {
            try? fd.close()
            throw error
        }
        self.fd = fd
    }

    /// Maps the words a parent passed as `fd` (the descriptor can be closed afterwards).
    package init(attachingTo fd: FileDescriptor) throws(SystemError) {
        mapping = try MemoryMapping(fd: fd, offset: 0, count: 4096, access: .readWrite)
        self.fd = nil
    }

    private func address(_ slot: Int) -> UnsafeMutablePointer<UInt64> {
        precondition(slot >= 0 && slot < Self.capacity, "shared word \(slot) out of range")
        return mapping.mutableBytes.baseAddress!.assumingMemoryBound(to: UInt64.self) + slot
    }

    package func load(_ slot: Int) -> UInt64 { joblib_atomic_load_u64(address(slot)) }

    package func store(_ slot: Int, _ value: UInt64) { joblib_atomic_store_u64(address(slot), value) }

    /// Closes the descriptor (the mapping stays).
    package func closeDescriptor() { try? fd?.close() }
}
