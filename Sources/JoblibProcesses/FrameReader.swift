import JoblibSystem
import SystemPackage

/// The parent's reader of a worker's result channel, which watches the worker's exit at the same
/// time: the end of a worker is its process ending (its pidfd), not end of file on the pipe, which
/// a process the task started may hold open for as long as it lives.
///
/// The pipe is non-blocking: the reader takes what is there, and waits in `poll` on the pipe and
/// the pidfd together. Frames are read straight into their body's array (one copy).
final class FrameReader {
    let fd: FileDescriptor
    private let process: ChildProcess
    private var header = [UInt8](repeating: 0, count: 5)
    private var headerFill = 0
    private var body: [UInt8] = []
    private var bodyFill = 0
    private var processEnded = false

    /// What a wait for the next frame found.
    enum Next {
        /// A whole frame.
        case frame(FrameKind, [UInt8])
        /// The worker ended (or closed its channel); no whole frame is left.
        case ended
        /// Nothing yet within the time allowed.
        case nothingYet
    }

    init(fd: FileDescriptor, process: ChildProcess) throws {
        self.fd = fd
        self.process = process
        try fd.setNonBlocking()
    }

    /// The next frame, waiting up to `timeout` (nil: until one comes or the worker ends).
    func next(timeout: Duration?) throws -> Next {
        let deadline = timeout.map { ContinuousClock.now + $0 }
        while true {
            if let frame = try readBuffered() { return frame }
            // Nothing more in the pipe: wait for data or the process's end.
            if processEnded { return .ended }
            var wait: Duration? = nil
            if let deadline {
                wait = deadline - ContinuousClock.now
                if wait! <= .zero { return .nothingYet }
            }
            let ready = try waitReadable(fd, or: process.exitDescriptor, timeout: wait ?? (process.exitDescriptor == nil ? .milliseconds(50) : nil))
            // Data written before the exit is in the pipe: take it before reporting the end.
            if ready.second { processEnded = true }
            if process.exitDescriptor == nil, !ready.first, process.poll() != nil { processEnded = true }
        }
    }

    /// Reads what the pipe holds now; a frame when one is complete, `.ended` at end of file, nil
    /// when the pipe is empty.
    private func readBuffered() throws -> Next? {
        while true {
            if headerFill < 5 {
                let count = try header.withUnsafeMutableBytes { bytes in
                    try fd.readAvailable(into: UnsafeMutableRawBufferPointer(rebasing: bytes[headerFill...]))
                }
                guard let count else { return nil }
                if count == 0 {
                    if headerFill > 0 { throw ProtocolError("the stream ended inside a frame header") }
                    return .ended
                }
                headerFill += count
                if headerFill < 5 { continue }
                let length = Int(UInt32(header[0]) | UInt32(header[1]) << 8 | UInt32(header[2]) << 16 | UInt32(header[3]) << 24)
                body = [UInt8](repeating: 0, count: length)
                bodyFill = 0
            }
            if bodyFill < body.count {
                let count = try body.withUnsafeMutableBytes { bytes in
                    try fd.readAvailable(into: UnsafeMutableRawBufferPointer(rebasing: bytes[bodyFill...]))
                }
                guard let count else { return nil }
                if count == 0 { throw ProtocolError("the stream ended inside a frame (\(bodyFill) of \(body.count) bytes)") }
                bodyFill += count
                if bodyFill < body.count { continue }
            }
            guard let kind = FrameKind(rawValue: header[4]) else { throw ProtocolError("unknown frame kind \(header[4])") }
            headerFill = 0
            defer { body = [] }
            return .frame(kind, body)
        }
    }
}
