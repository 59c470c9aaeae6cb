#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import SystemPackage

extension FileDescriptor {
    /// Flushes the file's data and metadata to stable storage.
    package func sync() throws(SystemError) {
        _ = try systemCall("fsync") { fsync(rawValue) }
    }

    /// Sets the file's size, growing it with zeros or cutting it.
    package func truncate(to size: Int) throws(SystemError) {
        _ = try systemCall("ftruncate") { ftruncate(rawValue, off_t(size)) }
    }

    /// The file's current size in bytes.
    package func fileSize() throws(SystemError) -> Int {
        var info = Glibc.stat()
        _ = try systemCall("fstat") { Glibc.fstat(rawValue, &info) }
        return Int(info.st_size)
    }

    /// Writes all of `buffer` starting at `offset`, looping over short writes.
    package func writeAll(_ buffer: UnsafeRawBufferPointer, at offset: Int) throws(SystemError) {
        var done = 0
        while done < buffer.count {
            let base = buffer.baseAddress! + done
            let remaining = buffer.count - done
            let written = try systemCall("pwrite") { Glibc.pwrite(rawValue, base, remaining, off_t(offset + done)) }
            done += written
        }
    }

    /// Writes all of `buffer` at the current position, looping over short writes.
    package func writeAll(_ buffer: UnsafeRawBufferPointer) throws(SystemError) {
        var done = 0
        while done < buffer.count {
            let base = buffer.baseAddress! + done
            let remaining = buffer.count - done
            done += try systemCall("write") { Glibc.write(rawValue, base, remaining) }
        }
    }

    /// Reads up to `buffer.count` bytes at `offset`; returns how many were read (less at end of file).
    package func readFully(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(SystemError) -> Int {
        var done = 0
        while done < buffer.count {
            let base = buffer.baseAddress! + done
            let remaining = buffer.count - done
            let count = try systemCall("pread") { Glibc.pread(rawValue, base, remaining, off_t(offset + done)) }
            if count == 0 { break }
            done += count
        }
        return done
    }

    /// Reads the whole file from offset 0 into a new array.
    package func readAllBytes() throws(SystemError) -> [UInt8] {
        try readWholeFile(size: fileSize())
    }

    /// Reads the whole file from offset 0: the `size` bytes `fstat` reported (fewer if the file
    /// ends sooner), or, when `size` is 0, until end of file (files the kernel generates, in /proc
    /// and cgroupfs, claim a size of 0 while producing text). The one whole-file reader:
    /// ``readAllBytes()``, ``readSystemFile(_:limit:)`` and the cache's `readSmallFile` use it.
    ///
    /// - Throws: `SystemError` for a failed `pread`, `fileTooLarge` when there is more than
    ///   `limit` bytes. Both name `path` when given.
    package func readWholeFile(size: Int, limit: Int = .max, path: String? = nil) throws(SystemError) -> [UInt8] {
        guard size <= limit else { throw SystemError("read", path: path, errno: .fileTooLarge) }
        var bytes = [UInt8](repeating: 0, count: size > 0 ? size : min(limit, 4096))
        var count = 0
        do throws(SystemError) {
            count = try bytes.withUnsafeMutableBytes { buffer in Result { () throws(SystemError) in try readFully(into: buffer, at: 0) } }.get()
            // Until end of file: a full buffer may not be all of it. One byte past `limit` is
            // asked for, to tell a file of exactly `limit` bytes from a longer one.
            while size == 0 && count == bytes.count && count <= limit {
                bytes.append(contentsOf: repeatElement(0, count: max(1, min(max(count, 4096), limit - count))))
                let start = count
                count += try bytes.withUnsafeMutableBytes { buffer in
                    Result { () throws(SystemError) in try readFully(into: UnsafeMutableRawBufferPointer(rebasing: buffer[start...]), at: start) }
                }.get()
            }
        } catch {
            var error = error
            if error.path == nil { error.path = path }
            throw error
        }
        if count > limit { throw SystemError("read", path: path, errno: .fileTooLarge) }
        bytes.removeLast(bytes.count - count)
        return bytes
    }
}

/// Opens `path` and closes the descriptor after `body`, also when it throws.
package func withFileDescriptor<R>(
    _ path: FilePath,
    _ mode: FileDescriptor.AccessMode,
    options: FileDescriptor.OpenOptions = [],
    permissions: FilePermissions? = nil,
    _ body: (FileDescriptor) throws -> R
) throws -> R {
    let flags = mode.rawValue | options.union(.closeOnExec).rawValue
    let fd = FileDescriptor(rawValue: try systemCall("open", path: path.string) { open(path.string, flags, permissions?.rawValue ?? 0) })
    return try fd.closeAfter { try body(fd) }
}
