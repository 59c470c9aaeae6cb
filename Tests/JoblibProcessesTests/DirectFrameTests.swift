import Foundation
import JoblibCoding
import JoblibParallel
@testable import JoblibProcesses
import Testing

/// `batch` and `results` frames are written and read field by field (WireFormat+Direct.swift):
/// the bytes must be exactly what `BinaryEncoder` gives, the values exactly what `BinaryDecoder`
/// gives, and anything else must still decode (or fail) through `BinaryDecoder`.
@Suite struct DirectFrameTests {
    static let batches: [BatchMessage] = [
        BatchMessage(typeName: "", indices: [], tasks: []),
        BatchMessage(typeName: "8Tasks4TinyV", indices: [0, 1, 2], tasks: Array(0..<200).map { UInt8($0) }),
        BatchMessage(typeName: "é \u{1F600}", indices: [Int.min, -1, Int.max], tasks: [7], arena: nil, resultThreshold: 1 << 20),
        BatchMessage(typeName: String(repeating: "x", count: 300), indices: Array(0..<5000), tasks: [], arena: nil, resultThreshold: 0),
    ]

    static var results: [ResultBatch] {
        var empty = ResultBatch()
        empty.timing = nil
        var full = ResultBatch()
        full.indices = [3, 4, 5]
        full.failed = [0, 1, 0]
        full.errors = Array(try! BinaryEncoder().encode(ErrorMessage(stage: .running, typeName: "E", description: "d")))
        full.errorOffsets = [0, full.errors.count]
        full.outputs = try! BinaryEncoder().encode([9, 16])
        full.timing = RemoteTiming(decoding: 1, running: UInt64.max, encoding: 1 << 40)
        var large = ResultBatch()
        large.indices = Array(0..<3000)
        large.failed = Array(repeating: 0, count: 3000)
        large.outputs = Array(repeating: 0xAB, count: 100_000)
        large.timing = RemoteTiming(decoding: 0, running: 0, encoding: 0)
        return [empty, full, large]
    }

    @Test func batchBytesAreBinaryEncoders() throws {
        for batch in Self.batches {
            let direct = try batch.frameBody()
            #expect(direct == (try BinaryEncoder().encode(batch)))
            let decoded = try BatchMessage.decode(frameBody: direct)
            #expect(decoded.typeName == batch.typeName && decoded.indices == batch.indices && decoded.tasks == batch.tasks)
            #expect(decoded.resultThreshold == batch.resultThreshold && decoded.arena == nil)
        }
    }

    @Test func resultBytesAreBinaryEncoders() throws {
        for batch in Self.results {
            let direct = try batch.encodedBody()
            #expect(direct == (try BinaryEncoder().encode(batch)))
            let decoded = try direct.withUnsafeBytes { try ResultBatch.decode($0) }
            #expect(decoded.indices == batch.indices && decoded.failed == batch.failed && decoded.outputs == batch.outputs)
            #expect(decoded.errors == batch.errors && decoded.errorOffsets == batch.errorOffsets && decoded.timing == batch.timing)
            let parsed = try ResultBatch.parse(frameBody: try batch.frameBody())
            #expect(parsed.indices == batch.indices && parsed.timing == batch.timing)
        }
    }

    /// The same fields in another order (what another encoder might send): the direct reader
    /// declines them, `BinaryDecoder` reads them.
    struct Shuffled: Encodable {
        var tasks: [UInt8]
        var typeName: String
        var indices: [Int]
        func encode(to encoder: any Encoder) throws {
            enum Keys: String, CodingKey { case tasks, typeName, indices }
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(tasks, forKey: .tasks)
            try container.encode(typeName, forKey: .typeName)
            try container.encode(indices, forKey: .indices)
        }
    }

    @Test func otherEncodingsGoThroughBinaryDecoder() throws {
        let bytes = try BinaryEncoder().encode(Shuffled(tasks: [1, 2], typeName: "T", indices: [4, 5]))
        let decoded = try BatchMessage.decode(frameBody: bytes)
        #expect(decoded.typeName == "T" && decoded.indices == [4, 5] && decoded.tasks == [1, 2])
    }

    @Test func damagedFramesStillThrow() throws {
        let good = try Self.batches[1].frameBody()
        // Truncated anywhere, or a byte more: never a value, always a CodingError.
        for cut in [1, 5, good.count / 2, good.count - 1] {
            #expect(throws: CodingError.self) { try BatchMessage.decode(frameBody: Array(good.prefix(cut))) }
        }
        #expect(throws: CodingError.self) { try BatchMessage.decode(frameBody: good + [0]) }
        let result = try Self.results[1].encodedBody()
        for cut in [1, 9, result.count - 1] {
            #expect(throws: CodingError.self) { try Array(result.prefix(cut)).withUnsafeBytes { try ResultBatch.decode($0) } }
        }
    }
}
