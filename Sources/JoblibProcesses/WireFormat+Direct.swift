import JoblibCoding
import JoblibParallel

// The two frames of every batch (`batch` out, `results` back) in the bytes their `Codable`
// conformances give, written and read field by field (DirectRecordWriter): coded through
// `Codable`, each frame cost a few microseconds of one-off containers and metadata lookups, about
// 100 ns per tiny task in the two processes (BENCHMARKS.md, "`Codable` tiny tasks"). The bytes,
// and so the protocol and the bridges that relay the frames, do not change; anything the direct
// reader does not expect (another encoder's key order, arena references) goes through
// `BinaryDecoder`. `DirectFrameTests` compare both ways with `BinaryEncoder` and `BinaryDecoder`.

extension BatchMessage {
    /// `BinaryEncoder().encode(self)`: directly, unless the batch refers to shared arrays.
    func frameBody() throws -> [UInt8] {
        guard arena == nil else { return try BinaryEncoder().encode(self) }
        var writer = DirectRecordWriter(capacity: 64 + typeName.utf8.count + indices.count * 8 + tasks.count)
        writer.field("typeName", typeName)
        writer.field("indices", indices)
        writer.field("tasks", tasks)
        if let resultThreshold { writer.field("resultThreshold", resultThreshold) }
        return writer.finish()
    }

    /// Decodes the body of a `batch` frame.
    /// - Throws: `CodingError` when the bytes are not a `BatchMessage`.
    static func decode(frameBody body: [UInt8]) throws -> BatchMessage {
        try body.withUnsafeBytes { raw in
            if let batch = BatchMessage(direct: raw) { return batch }
            return try BinaryDecoder().decode(BatchMessage.self, from: raw)
        }
    }

    private init?(direct bytes: UnsafeRawBufferPointer) {
        guard var reader = DirectRecordReader(bytes), let typeName = reader.string("typeName"),
              let indices = reader.ints("indices"), let tasks = reader.bytes("tasks")
        else { return nil }
        self.init(typeName: typeName, indices: indices, tasks: tasks)
        if let threshold = reader.int("resultThreshold") { resultThreshold = threshold }
        guard reader.finish() else { return nil }
    }
}

extension ResultBatch {
    /// `BinaryEncoder().encode(self)`: directly, unless outputs are in memory files.
    func encodedBody() throws -> [UInt8] {
        guard files == nil else { return try BinaryEncoder().encode(self) }
        var writer = DirectRecordWriter(
            capacity: 96 + indices.count * 9 + errorOffsets.count * 8 + errors.count + outputs.count)
        writer.field("indices", indices)
        writer.field("failed", failed)
        writer.field("errorOffsets", errorOffsets)
        writer.field("errors", errors)
        writer.field("outputs", outputs)
        if let timing {
            writer.beginStruct("timing")
            writer.field("decoding", timing.decoding)
            writer.field("running", timing.running)
            writer.field("encoding", timing.encoding)
            writer.endStruct()
        }
        return writer.finish()
    }

    /// Decodes a batch (the frame body after its count).
    /// - Throws: `CodingError` when the bytes are not a `ResultBatch`.
    static func decode(_ bytes: UnsafeRawBufferPointer) throws -> ResultBatch {
        if let batch = ResultBatch(direct: bytes) { return batch }
        return try BinaryDecoder().decode(ResultBatch.self, from: bytes)
    }

    private init?(direct bytes: UnsafeRawBufferPointer) {
        guard var reader = DirectRecordReader(bytes), let indices = reader.ints("indices"),
              let failed = reader.bytes("failed"), let errorOffsets = reader.ints("errorOffsets"),
              let errors = reader.bytes("errors"), let outputs = reader.bytes("outputs")
        else { return nil }
        self.init()
        self.indices = indices
        self.failed = failed
        self.errorOffsets = errorOffsets
        self.errors = errors
        self.outputs = outputs
        if reader.beginStruct("timing") {
            guard let decoding = reader.uint64("decoding"), let running = reader.uint64("running"),
                  let encoding = reader.uint64("encoding"), reader.endStruct()
            else { return nil }
            timing = RemoteTiming(decoding: decoding, running: running, encoding: encoding)
        }
        guard reader.finish() else { return nil }
    }
}
