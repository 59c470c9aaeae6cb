import JoblibSystem
import Synchronization
import SystemPackage

/// Forwards a worker's standard error to ours as it arrives (a chatty task must never block on
/// a full pipe) and keeps its last 64 KiB for error messages (a crash backtrace is long).
package final class StandardErrorDrain: Sendable {
    private static let tailLimit = 64 * 1024
    private let buffer = Mutex<[UInt8]>([])
    /// Whether the drain reached end of file, under the lock `join` waits on.
    private let done = ConditionLock(false)

    /// Drains `fd` on a thread; `forward: false` only keeps the tail (a helper process whose
    /// chatter is worth showing only when it fails). With `process`, draining stops once that
    /// process has ended and its output is read, even if a process it started keeps the pipe open.
    package init(fd: FileDescriptor, forward: Bool = true, until process: ChildProcess? = nil) {
        if process?.exitDescriptor != nil { try? fd.setNonBlocking() }
        do {
            try startDetachedThread(name: "joblib-stderr") { [self] in
                // Our standard error may be a pipe nobody reads any more: EPIPE, never SIGPIPE.
                blockBrokenPipeSignalInThisThread()
                drain(fd, forward: forward, until: process)
            }
        } catch {
            try? fd.close()
            markDone()
        }
    }

    private func drain(_ fd: FileDescriptor, forward: Bool, until process: ChildProcess?) {
        var chunk = [UInt8](repeating: 0, count: 4096)
        let exit = process?.exitDescriptor
        var ended = false
        while true {
            let read: Int?
            do {
                if exit != nil {
                    read = try chunk.withUnsafeMutableBytes { try fd.readAvailable(into: $0) }
                } else {
                    read = try chunk.withUnsafeMutableBytes { try fd.read(into: $0, retryOnInterrupt: true) }
                }
            } catch {
                break
            }
            guard let count = read else {
                // Empty for now: stop if the process has ended, else wait for output or its end.
                if ended { break }
                guard let exit, let ready = try? waitReadable(fd, or: exit, timeout: nil) else { break }
                if ready.second { ended = true }
                continue
            }
            if count <= 0 { break }
            if forward { chunk.withUnsafeBytes { writeToStandardError(UnsafeRawBufferPointer(rebasing: $0[..<count])) } }
            buffer.withLock { tail in
                tail.append(contentsOf: chunk[..<count])
                if tail.count > Self.tailLimit { tail.removeFirst(tail.count - Self.tailLimit) }
            }
        }
        try? fd.close()
        markDone()
    }

    private func markDone() {
        done.withLock { locked in
            locked.state = true
            locked.broadcast()
        }
    }

    /// Waits until the worker's standard error reached end of file (at most 1 s after it died).
    package func join() {
        let deadline = monotonicNanoseconds() + 1_000_000_000
        done.withLock { locked in
            while !locked.state && monotonicNanoseconds() < deadline {
                locked.wait(untilNanoseconds: deadline)
            }
        }
    }

    package var tail: String { String(decoding: buffer.withLock { $0 }, as: UTF8.self) }
}
