import Foundation
import JoblibTestSupport
import Testing
@testable import JoblibPersistence

/// `decompress(…, stopAfter:)`: a probe of what a compressed stream starts with, which stops
/// early (what `isPythonJoblibFile` and `joblib hash` use instead of decoding loops of their own).
@Suite struct DecompressionProbeTests {
    /// A stream of `prefix` then 64 MiB of zeros, compressed.
    private func bigStream(_ prefix: [UInt8], _ compression: Compression) throws -> [UInt8] {
        let compressor = try #require(try makeCompressor(compression))
        var output: [UInt8] = []
        let sink: ByteOutput = { output.append(contentsOf: $0) }
        try prefix.withUnsafeBytes { try compressor.compress($0, output: sink) }
        let chunk = [UInt8](repeating: 0, count: 1 << 20)
        for _ in 0..<64 { try chunk.withUnsafeBytes { try compressor.compress($0, output: sink) } }
        try compressor.finish(output: sink)
        return output
    }

    @Test(arguments: [Compression.zlib(level: 1), .gzip(level: 1), .bz2(level: 1), .xz(level: 0), .lz4(level: 0), .zstd(level: 3)])
    func aProbeStopsAfterTheBytesItAsksFor(_ compression: Compression) throws {
        let stream = try bigStream([0x80, 0x04, 0x95], compression)
        let output = ByteBuffer()
        try stream.withUnsafeBytes {
            _ = try decompress($0, compression.algorithm, maximumSize: .max, expecting: .anything, stopAfter: 2, into: output)
        }
        #expect(Array(output.bytes.prefix(3)) == Array(([0x80, 0x04, 0x95] as [UInt8]).prefix(output.count)))
        #expect(output.count >= 2 && output.count < 1 << 16, "a probe decompressed \(output.count) bytes")
        #expect(stream.withUnsafeBytes { decompressedPrefix($0, compression.algorithm, count: 8) } == [0x80, 0x04, 0x95, 0, 0, 0, 0, 0])
    }

    @Test func aProbeKeepsWhatCameOutBeforeDamage() throws {
        var stream = try bigStream(Array("JOBLIB".utf8), .gzip(level: 1))
        stream.removeLast(stream.count - 40)  // cut early: the stream ends long before its end
        #expect(stream.withUnsafeBytes { decompressedPrefix($0, .gzip, count: 6) } == Array("JOBLIB".utf8))
        #expect([UInt8]([0x1F, 0x8B, 0x08, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]).withUnsafeBytes { decompressedPrefix($0, .gzip, count: 6) } == [])
    }

    @Test func pythonJoblibFilesAreRecognisedCompressedOrNot() throws {
        let scratch = try Scratch()
        for (name, compression) in [("plain.pkl", nil), ("gz.pkl", Compression.gzip(level: 1)), ("zstd.pkl", .zstd(level: 3))] as [(String, Compression?)] {
            let pickle: [UInt8] = [0x80, 0x04, 0x4E, 0x2E]  // PROTO 4, NONE, STOP
            let bytes = try compression.map { try bigStream(pickle, $0) } ?? pickle
            try Data(bytes).write(to: URL(fileURLWithPath: scratch.path(name)))
            #expect(isPythonJoblibFile(at: .init(scratch.path(name))), "\(name)")
        }
        try dump([1.0], to: scratch.path("ours.joblib"), compression: .gzip(level: 1))
        #expect(!isPythonJoblibFile(at: .init(scratch.path("ours.joblib"))))
        try Data("not a pickle".utf8).write(to: URL(fileURLWithPath: scratch.path("text")))
        #expect(!isPythonJoblibFile(at: .init(scratch.path("text"))))
    }
}
