import JoblibCoding
import JoblibParallel
import JoblibSystem
import JoblibTypes
import SystemPackage

// The worker protocol: see WorkerProtocol.md beside this file.

/// What a frame carries.
package enum FrameKind: UInt8 {
    /// Worker → parent, once: the worker is up (``ReadyMessage``).
    case ready = 1
    /// Parent → worker: tasks to run in order (``BatchMessage``).
    case batch = 2
    /// Worker → parent: the outcomes of consecutive tasks of the current batch (``ResultBatch``).
    case results = 3
    /// Parent → worker: finish and exit.
    case shutdown = 4
    /// Parent → worker: the call is over; drop its shared arrays (the mapping and the copies
    /// decoded from it).
    case releaseArena = 5
    /// Host → worker, before a batch whose arena its host placed (a cluster's objects,
    /// ``HostPlacements``): which of the host's memory files holds each object.
    case placements = 6
}

/// Version of the frames and messages; a worker of another version is refused at the handshake.
package let workerProtocolVersion = 4

package struct ReadyMessage: Codable {
    package var protocolVersion: Int
    package var pid: Int32
    /// Whether the worker may read the parent's memory (``ParentMemoryProbe``); nil: no.
    var readsParentMemory: Bool?
}

/// Tasks to run in order: `tasks` is one encoded `[Task]` whose element `k` has index
/// `indices[k]` in the call (one coder pass per batch, not per task).
package struct BatchMessage: Codable {
    /// The task type's mangled name (``TaskTypeName``).
    package var typeName: String
    package var indices: [Int]
    package var tasks: [UInt8]
    /// Large arrays the tasks refer to, in shared memory (nil: everything is inline).
    var arena: ArenaReference?
    /// Arrays in outputs of at least this many bytes come back in memory files passed over the
    /// task socket (``ResultFiles``); nil: everything comes back inline (relayed by a bridge,
    /// where the task channel is no socket of the parent's).
    var resultThreshold: Int?

    package init(typeName: String, indices: [Int], tasks: [UInt8]) {
        self.typeName = typeName
        self.indices = indices
        self.tasks = tasks
    }

    init(typeName: String, indices: [Int], tasks: [UInt8], arena: ArenaReference?, resultThreshold: Int?) {
        self.init(typeName: typeName, indices: indices, tasks: tasks)
        self.arena = arena
        self.resultThreshold = resultThreshold
    }

    /// A batch whose large arrays are objects of a cluster bridge (section `number` of the call's
    /// arena `arenaID` is the object `object`, `byteCount` bytes): the worker's host places each
    /// in a memory file of its own and says where in a `placements` frame before the batch.
    package init(typeName: String, indices: [Int], tasks: [UInt8], arenaID: UInt64, objects: [PlacedSection]) {
        self.init(typeName: typeName, indices: indices, tasks: tasks)
        if !objects.isEmpty {
            arena = ArenaReference(
                id: arenaID, pid: ArenaReference.placedByHost, fd: -1,
                sections: objects.map { SectionEntry(number: $0.number, offset: 0, byteCount: $0.byteCount, object: $0.object) })
        }
    }
}

/// A section of a call's arguments that a cluster bridge holds as an object (BatchMessage).
package struct PlacedSection: Sendable, Equatable {
    package var number: UInt64
    package var object: UInt64
    package var byteCount: Int

    package init(number: UInt64, object: UInt64, byteCount: Int) {
        self.number = number
        self.object = object
        self.byteCount = byteCount
    }
}

/// Outcomes of consecutive tasks, in the batch's order. `failed[k]` says whether task `k` failed;
/// the failures' ``ErrorMessage``s are `errors[errorOffsets[j]..<errorOffsets[j + 1]]`, and the
/// other tasks' outputs are one encoded `[Output]` in `outputs`. A worker sends them when its
/// batch ends, and meanwhile every 20 ms, so a long batch reports as it goes.
package struct ResultBatch: Codable {
    package var indices: [Int] = []
    var failed: [UInt8] = []
    var errorOffsets: [Int] = [0]
    var errors: [UInt8] = []
    package var outputs: [UInt8] = []
    /// The worker's time on these outcomes since its previous `results` frame.
    package var timing: RemoteTiming?
    /// The memory files that hold the outputs' large arrays, passed right before the frame
    /// (nil: every output is inline).
    var files: ResultFiles?

    package var count: Int { indices.count }

    /// The body of a `results` frame: the number of outcomes (4 bytes little-endian, so that a
    /// relay such as the Dask bridge can count them without decoding), then the batch.
    func frameBody() throws -> [UInt8] {
        var body = withUnsafeBytes(of: UInt32(count).littleEndian) { Array($0) }
        body += try BinaryEncoder().encode(self)
        return body
    }

    /// Parses and checks the body of a `results` frame.
    package static func parse(frameBody body: [UInt8]) throws -> ResultBatch {
        guard body.count >= 4 else { throw ProtocolError("a results frame without its count") }
        let batch = try BinaryDecoder().decode(ResultBatch.self, from: Array(body[4...]))
        try batch.validate()
        guard UInt32(batch.count) == UInt32(body[0]) | UInt32(body[1]) << 8 | UInt32(body[2]) << 16 | UInt32(body[3]) << 24 else {
            throw ProtocolError("a results frame whose count disagrees with its content")
        }
        return batch
    }

    /// The failures by position, decoded into the errors to throw.
    package func decodedErrors() -> [Int: any Error] {
        var result: [Int: any Error] = [:]
        var j = 0
        for position in 0..<count where failed[position] != 0 {
            let bytes = Array(errors[errorOffsets[j]..<errorOffsets[j + 1]])
            let index = indices[position]
            if let message = try? BinaryDecoder().decode(ErrorMessage.self, from: bytes) {
                result[position] = decodeRemoteError(message, taskIndex: index)
            } else {
                result[position] = RemoteTaskError(
                    taskIndex: index, stage: .running, typeName: "unknown", errorDescription: "the worker sent an unreadable error")
            }
            j += 1
        }
        return result
    }

    /// Checks the layout before anything is sliced: the worker is ours, but a bug must not crash
    /// the parent.
    func validate() throws {
        let failures = failed.filter { $0 != 0 }.count
        guard failed.count == indices.count, errorOffsets.count == failures + 1, errorOffsets.first == 0,
              errorOffsets.last == errors.count, zip(errorOffsets, errorOffsets.dropFirst()).allSatisfy({ $0 <= $1 })
        else { throw ProtocolError("a result batch with an inconsistent layout") }
    }
}

/// Words of a worker's shared status page (descriptor 5 in the worker: 4 KiB, 64-bit words).
package enum StatusWord {
    /// The index + 1 of the task the worker is working on now (decoding it, running it or
    /// encoding its result); 0 between batches.
    package static let runningTask = 0
    /// When work on that task (or on encoding its result) started (CLOCK_MONOTONIC nanoseconds,
    /// the same clock in every process).
    package static let startedAt = 1
    /// The stage of that work: 1 decoding the task, 2 running it, 3 encoding its result; 0 none.
    package static let stage = 2

    static func code(of stage: RemoteTaskError.Stage) -> UInt64 {
        switch stage {
        case .decodingTask: return 1
        case .running: return 2
        case .encodingResult: return 3
        case .decodingResult: return 0
        }
    }

    static func stage(code: UInt64) -> RemoteTaskError.Stage? {
        switch code {
        case 1: return .decodingTask
        case 2: return .running
        case 3: return .encodingResult
        default: return nil
        }
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
    /// A socket: sends use `MSG_NOSIGNAL`, so a dead peer is the error `EPIPE`, never `SIGPIPE`.
    let isSocket: Bool

    package init(fd: FileDescriptor, isSocket: Bool = false) {
        self.fd = fd
        self.isSocket = isSocket
    }

    package func send(_ kind: FrameKind, body: [UInt8] = []) throws {
        let frame = try Self.frame(kind, body: body)
        if isSocket {
            try frame.withUnsafeBytes { try fd.sendAll($0) }
        } else {
            try frame.withUnsafeBytes { try fd.writeAll($0) }
        }
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
