import JoblibCoding
import JoblibSystem
import SystemPackage

// The worker protocol: see WorkerProtocol.md beside this file.

/// What a frame carries.
package enum FrameKind: UInt8 {
    /// Worker → parent, once: the worker is up (``ReadyMessage``).
    case ready = 1
    /// Parent → worker: tasks to run in order (``BatchMessage``).
    case batch = 2
    /// Worker → parent: one task's outcome (``ResultMessage``).
    case result = 3
    /// Parent → worker: finish and exit.
    case shutdown = 4
}

/// Version of the frames and messages; a worker of another version is refused at the handshake.
package let workerProtocolVersion = 1

package struct ReadyMessage: Codable {
    package var protocolVersion: Int
    package var pid: Int32
}

package struct BatchMessage: Codable {
    /// The task type's mangled name (``TaskTypeName``).
    package var typeName: String
    package var tasks: [TaskMessage]

    package init(typeName: String, tasks: [TaskMessage]) {
        self.typeName = typeName
        self.tasks = tasks
    }
}

package struct TaskMessage: Codable {
    package var index: Int
    package var payload: [UInt8]

    package init(index: Int, payload: [UInt8]) {
        self.index = index
        self.payload = payload
    }
}

package struct ResultMessage: Codable {
    package var index: Int
    package var outcome: Outcome

    package enum Outcome: Codable {
        case value([UInt8])
        case error(ErrorMessage)
    }
}

/// A task's error as it crosses the process boundary.
package struct ErrorMessage: Codable {
    /// Where it happened: decoding the task, running it, or encoding its result.
    var stage: RemoteTaskError.Stage
    /// `String(reflecting: type(of: error))`, for people.
    var typeName: String
    /// `String(describing: error)`.
    var description: String
    /// For `Codable` errors: the mangled type name and the encoded error, so the parent rethrows
    /// the same type.
    var codableTypeName: String?
    var codablePayload: [UInt8]?
}

/// Reads and writes length-prefixed frames on a descriptor: 4 bytes little-endian body length,
/// 1 byte kind, then the body.
package struct FrameChannel {
    package let fd: FileDescriptor

    package init(fd: FileDescriptor) { self.fd = fd }

    package func send(_ kind: FrameKind, body: [UInt8] = []) throws {
        let frame = try Self.frame(kind, body: body)
        try frame.withUnsafeBytes { try fd.writeAll($0) }
    }

    package func send<Message: Encodable>(_ kind: FrameKind, _ message: Message) throws {
        try send(kind, body: BinaryEncoder().encode(message))
    }

    /// One frame's bytes, as ``send(_:body:)`` writes them (other transports carry them too).
    package static func frame(_ kind: FrameKind, body: [UInt8]) throws -> [UInt8] {
        guard body.count <= UInt32.max else {
            throw ProtocolError("a message of \(ByteCount(bytes: body.count)) is over the 4 GiB frame limit")
        }
        var frame = [UInt8]()
        frame.reserveCapacity(5 + body.count)
        withUnsafeBytes(of: UInt32(body.count).littleEndian) { frame.append(contentsOf: $0) }
        frame.append(kind.rawValue)
        frame.append(contentsOf: body)
        return frame
    }

    /// The frames laid end to end in `bytes` (as another transport relayed them).
    package static func frames(in bytes: [UInt8]) throws -> [(kind: FrameKind, body: [UInt8])] {
        var frames: [(kind: FrameKind, body: [UInt8])] = []
        var offset = 0
        while offset < bytes.count {
            guard bytes.count - offset >= 5 else { throw ProtocolError("relayed frames end inside a header") }
            let length = Int(UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24)
            guard let kind = FrameKind(rawValue: bytes[offset + 4]) else { throw ProtocolError("unknown frame kind \(bytes[offset + 4])") }
            guard bytes.count - offset - 5 >= length else { throw ProtocolError("relayed frames end inside a body") }
            frames.append((kind, Array(bytes[(offset + 5)..<(offset + 5 + length)])))
            offset += 5 + length
        }
        return frames
    }

    /// The next frame, or nil at end of file (the other side closed or died).
    package func receive() throws -> (kind: FrameKind, body: [UInt8])? {
        var header = [UInt8](repeating: 0, count: 5)
        let headerCount = try header.withUnsafeMutableBytes { try readExactly($0) }
        if headerCount == 0 { return nil }
        guard headerCount == 5 else { throw ProtocolError("the stream ended inside a frame header") }
        let length = Int(UInt32(header[0]) | UInt32(header[1]) << 8 | UInt32(header[2]) << 16 | UInt32(header[3]) << 24)
        guard let kind = FrameKind(rawValue: header[4]) else {
            throw ProtocolError("unknown frame kind \(header[4])")
        }
        var body = [UInt8](repeating: 0, count: length)
        let bodyCount = try body.withUnsafeMutableBytes { try readExactly($0) }
        guard bodyCount == length else { throw ProtocolError("the stream ended inside a frame (\(bodyCount) of \(length) bytes)") }
        return (kind, body)
    }

    /// Reads until `buffer` is full or end of file; returns how much was read.
    private func readExactly(_ buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var done = 0
        while done < buffer.count {
            let count = try fd.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]), retryOnInterrupt: true)
            if count == 0 { break }
            done += count
        }
        return done
    }
}

/// The worker stream broke its protocol (a bug, or a process that is not our worker).
package struct ProtocolError: Error, CustomStringConvertible {
    package var description: String
    package init(_ description: String) { self.description = "worker protocol: " + description }
}
