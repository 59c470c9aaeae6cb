import JoblibCoding
import JoblibSystem
import SystemPackage

// The worker protocol: see WorkerProtocol.md beside this file.

/// What a frame carries.
enum FrameKind: UInt8 {
    /// Worker → parent, once: the worker is up (``ReadyMessage``).
    case ready = 1
    /// Parent → worker: tasks to run in order (``BatchMessage``).
    case batch = 2
    /// Worker → parent: the outcomes of consecutive tasks of the current batch (``ResultBatch``).
    case results = 3
    /// Parent → worker: finish and exit.
    case shutdown = 4
}

/// Version of the frames and messages; a worker of another version is refused at the handshake.
let workerProtocolVersion = 1

struct ReadyMessage: Codable {
    var protocolVersion: Int
    var pid: Int32
}

/// Tasks to run in order: `tasks` is one encoded `[Task]` whose element `k` has index
/// `indices[k]` in the call (one coder pass per batch, not per task).
struct BatchMessage: Codable {
    /// The task type's mangled name (``TaskTypeName``).
    var typeName: String
    var indices: [Int]
    var tasks: [UInt8]
    /// Large arrays the tasks refer to, in shared memory (nil: everything is inline).
    var arena: ArenaReference?
}

/// Outcomes of consecutive tasks, in the batch's order. `failed[k]` says whether task `k` failed;
/// the failures' ``ErrorMessage``s are `errors[errorOffsets[j]..<errorOffsets[j + 1]]`, and the
/// other tasks' outputs are one encoded `[Output]` in `outputs`. A worker sends them when its
/// batch ends, and meanwhile every 20 ms, so a long batch reports as it goes.
struct ResultBatch: Codable {
    var indices: [Int] = []
    var failed: [UInt8] = []
    var errorOffsets: [Int] = [0]
    var errors: [UInt8] = []
    var outputs: [UInt8] = []

    var count: Int { indices.count }

    /// The failures by position, decoded into the errors to throw.
    func decodedErrors() -> [Int: any Error] {
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

/// Words of a worker's shared status page.
enum StatusWord {
    /// The index + 1 of the task running now; 0 between tasks.
    static let runningTask = 0
    /// When that task started (CLOCK_MONOTONIC nanoseconds, the same clock in every process).
    static let startedAt = 1
}

/// A task's error as it crosses the process boundary.
struct ErrorMessage: Codable {
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
struct FrameChannel {
    let fd: FileDescriptor
    func send(_ kind: FrameKind, body: [UInt8] = []) throws {
        guard body.count <= UInt32.max else {
            throw ProtocolError("a message of \(ByteCount(bytes: body.count)) is over the 4 GiB frame limit")
        }
        var frame = [UInt8]()
        frame.reserveCapacity(5 + body.count)
        withUnsafeBytes(of: UInt32(body.count).littleEndian) { frame.append(contentsOf: $0) }
        frame.append(kind.rawValue)
        frame.append(contentsOf: body)
        try frame.withUnsafeBytes { try fd.writeAll($0) }
    }

    func send<Message: Encodable>(_ kind: FrameKind, _ message: Message) throws {
        try send(kind, body: BinaryEncoder().encode(message))
    }

    /// The next frame, or nil at end of file (the other side closed or died).
    func receive() throws -> (kind: FrameKind, body: [UInt8])? {
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
struct ProtocolError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = "worker protocol: " + description }
}
