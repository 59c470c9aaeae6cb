import Synchronization
import SystemPackage

/// Memory that other processes can map: an anonymous memory file (memfd, no name in any file
/// system) mapped read-write here. It is freed (unmapped, descriptor closed) with the object.
///
/// Live blocks are registered by address, so code that meets their bytes (the process backend's
/// argument arena) can hand the file to workers instead of copying the bytes into a new one.
package final class SharedMemoryBlock: @unchecked Sendable {
    // @unchecked: `fd` and `mapping` never change; the bytes are the owner's to synchronise.
    package let fd: FileDescriptor
    package let mapping: MemoryMapping

    /// A zero-filled block of `count` bytes (at least one).
    package convenience init(count: Int, name: String) throws(SystemError) {
        try self.init(mapping: SharedMemoryFile.create(name: name, size: max(count, 1)), count: max(count, 1))
    }

    /// The memory file `fd` (received from another process), mapped read-write whole; the block
    /// owns the descriptor from now on (it is closed here if the mapping fails).
    package convenience init(adopting fd: FileDescriptor) throws(SystemError) {
        let count: Int
        do {
            count = try fd.fileSize()
        } catch {
            try? fd.close()
            throw error
        }
        try self.init(mapping: fd, count: max(count, 1))
    }

    /// Maps `count` bytes of `fd`, which the block owns from now on (closed here on failure),
    /// and registers the block by address.
    private init(mapping fd: FileDescriptor, count: Int) throws(SystemError) {
        do {
            mapping = try MemoryMapping(fd: fd, offset: 0, count: count, access: .readWrite)
        } catch {
            try? fd.close()
            throw error
        }
        self.fd = fd
        let start = UInt(bitPattern: mapping.bytes.baseAddress)
        Self.live.withLock { $0[start] = Entry(block: self, count: mapping.count) }
    }

    deinit {
        let start = UInt(bitPattern: mapping.bytes.baseAddress)
        _ = Self.live.withLock { $0.removeValue(forKey: start) }
        try? fd.close()
    }

    /// The live block that holds all of `bytes`, and where they start in it.
    package static func containing(_ bytes: UnsafeRawBufferPointer) -> (block: SharedMemoryBlock, offset: Int)? {
        guard let base = bytes.baseAddress else { return nil }
        let address = UInt(bitPattern: base)
        return live.withLock { live -> (SharedMemoryBlock, Int)? in
            for (start, entry) in live where address >= start && address + UInt(bytes.count) <= start + UInt(entry.count) {
                // A block whose deinit has begun cannot be retained: skip it.
                guard let block = entry.block else { continue }
                return (block, Int(address - start))
            }
            return nil
        }
    }

    private struct Entry {
        weak var block: SharedMemoryBlock?
        var count: Int
    }

    private static let live = Mutex<[UInt: Entry]>([:])
}
