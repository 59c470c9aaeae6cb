import JoblibSystem
import SystemPackage

/// The end of the write pipeline: a file descriptor or memory, with a buffer so that the many
/// small writes of a value and a compressor become few system calls.
final class RawSink {
    private let fd: FileDescriptor?
    private let memory: ByteBuffer?
    private let buffer = ByteBuffer()
    private static let bufferCapacity = 1 << 20
    private var pending = 0
    /// Writes at least this large go straight to the descriptor, skipping the buffer copy.
    private static let directWriteSize = 1 << 18

    /// Bytes handed to the descriptor so far (the file is written front to back from offset 0).
    private var written = 0
    /// With early writeback, where the last `startWriteback` ended and up to where the disk has
    /// been waited for.
    private let earlyWriteback: Bool
    private var kicked = 0
    private var waited = 0
    /// Writeback is started every `writebackWindow` bytes and waited for `writebackLag` bytes
    /// behind the write position, which bounds the dirty data in the page cache.
    private static let writebackWindow = 16 << 20
    private static let writebackLag = 64 << 20

    /// - Parameter earlyWriteback: start writing pages to disk while later ones are still being
    ///   written, for files that will reach the disk at once anyway: durable dumps (fsync at the
    ///   end) and files renamed over an existing one (ext4 then flushes the new file during the
    ///   rename: its `auto_da_alloc` guard). The disk then works in parallel with the copying.
    init(fd: FileDescriptor, earlyWriteback: Bool = false) {
        self.fd = fd
        memory = nil
        self.earlyWriteback = earlyWriteback
    }

    init(memory: ByteBuffer) {
        fd = nil
        self.memory = memory
        earlyWriteback = false
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        if let memory {
            try memory.append(bytes)
            return
        }
        if bytes.count >= Self.directWriteSize {
            try flush()
            try writeToFile(bytes)
            return
        }
        if buffer.capacity == 0 { try buffer.reserve(Self.bufferCapacity) }
        if buffer.capacity - buffer.count < bytes.count { try flush() }
        try buffer.append(bytes)
    }

    /// Replaces bytes already written at the start (the header, once the length is known).
    func patch(_ bytes: [UInt8], at offset: Int) throws {
        try flush()
        if let memory {
            precondition(offset + bytes.count <= memory.count, "patching bytes not written yet")
            bytes.withUnsafeBytes { memory.overwrite(at: offset, with: $0) }
        } else if let fd {
            try bytes.withUnsafeBytes { try fd.writeAll($0, at: offset) }
        }
    }

    func flush() throws {
        guard fd != nil, buffer.count > 0 else { return }
        try writeToFile(buffer.bytes)
        buffer.removeAll()
    }

    private func writeToFile(_ bytes: UnsafeRawBufferPointer) throws {
        guard let fd else { return }
        try fd.writeAll(bytes)
        written += bytes.count
        guard earlyWriteback, written - kicked >= Self.writebackWindow else { return }
        fd.startWriteback(offset: kicked, count: written - kicked)
        kicked = written
        if kicked - waited > Self.writebackLag {
            fd.waitForWriteback(offset: waited, count: kicked - Self.writebackLag - waited)
            waited = kicked - Self.writebackLag
        }
    }
}
