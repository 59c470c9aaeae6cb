import Foundation
import JoblibTestSupport
import Testing
@testable import JoblibPersistence

/// Decompression bombs, each loaded by `joblib-test-helper load-limited` in a child process whose
/// address space is limited to 1 GiB: the load must end with an error quickly, never run out of
/// memory with a trap (the child would die by a signal) nor decompress gigabytes first.
@Suite(.timeLimit(.minutes(2)))
struct BombTests {
    static let addressSpaceMegabytes = 1024

    /// A compressed stream of `prefix` followed by `zeros` zero bytes, written without holding them.
    static func writeBomb(_ path: String, prefix: [UInt8], zeros: Int, _ compression: Compression) throws {
        let compressor = try #require(try makeCompressor(compression))
        var output = Data()
        let sink: ByteOutput = { output.append(contentsOf: $0) }
        try prefix.withUnsafeBytes { try compressor.compress($0, output: sink) }
        let chunk = [UInt8](repeating: 0, count: 1 << 20)
        for _ in 0..<(zeros >> 20) { try chunk.withUnsafeBytes { try compressor.compress($0, output: sink) } }
        try compressor.finish(output: sink)
        try output.write(to: URL(fileURLWithPath: path))
    }

    /// Runs the child and returns what it printed, failing on a signal or after 60 s.
    static func loadInChild(_ path: String, maximumMegabytes: Int? = nil) throws -> (output: String, seconds: Double) {
        let process = Process()
        process.executableURL = TestSupport.helperExecutable
        process.arguments = ["load-limited", "\(addressSpaceMegabytes)", path] + (maximumMegabytes.map { ["\($0)"] } ?? [])
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        let start = Date()
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            Issue.record("loading \(path) took more than 60 s")
        }
        process.waitUntilExit()
        let seconds = Date().timeIntervalSince(start)
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationReason == .exit && process.terminationStatus == 0, "the child died: \(process.terminationReason) \(process.terminationStatus), output \(output)")
        return (output.trimmingCharacters(in: .whitespacesAndNewlines), seconds)
    }

    /// 2 GB of zeros, not a container: refused after the first decompressed chunk.
    @Test(arguments: [Compression.zstd(level: 3), .gzip(level: 1), .xz(level: 0)])
    func aStreamOfSomethingElseStopsAtItsFirstBytes(compression: Compression) throws {
        let scratch = try Scratch()
        let path = scratch.path("zeros")
        try Self.writeBomb(path, prefix: [], zeros: 2 << 30, compression)
        let (output, seconds) = try Self.loadInChild(path)
        #expect(output == "error notOurFile")
        #expect(seconds < 10, "\(seconds) s")
    }

    /// A container header that declares more than the load accepts: refused before decompressing.
    @Test func aContainerThatDeclaresTooMuchIsRefusedAtItsHeader() throws {
        let scratch = try Scratch()
        let path = scratch.path("declares-64g")
        try Self.writeBomb(path, prefix: headerBytes(typeName: "Bomb", containerLength: 64 << 30), zeros: 1 << 30, .zstd(level: 3))
        let (output, seconds) = try Self.loadInChild(path)
        #expect(output == "error tooLarge")
        #expect(seconds < 10, "\(seconds) s")
        // The same with a maximumSize that allows it: the allocation fails, as an error.
        #expect(try Self.loadInChild(path, maximumMegabytes: 128 << 10).output == "error outOfMemory")
    }

    /// A header that declares a small container, followed by far more: stops past the declaration.
    @Test func aStreamLongerThanItsDeclarationStops() throws {
        let scratch = try Scratch()
        let path = scratch.path("declares-1m")
        try Self.writeBomb(path, prefix: headerBytes(typeName: "Bomb", containerLength: 1 << 20), zeros: 2 << 30, .zstd(level: 3))
        let (output, seconds) = try Self.loadInChild(path)
        #expect(output == "error decompressionFailed")
        #expect(seconds < 10, "\(seconds) s")
    }

    /// A version-1 header declares nothing: the stream is bounded by maximumSize (or by the memory
    /// the limited process gets, which is then an error too).
    @Test func anUndeclaredStreamIsBoundedByMaximumSize() throws {
        let scratch = try Scratch()
        let path = scratch.path("v1-bomb")
        var preamble = containerMagic + [1, 0, 0, 0]
        preamble += [UInt8](repeating: 0, count: preambleSize - preamble.count)
        try Self.writeBomb(path, prefix: preamble, zeros: 2 << 30, .zstd(level: 3))
        #expect(try Self.loadInChild(path, maximumMegabytes: 64).output == "error tooLarge")
        let unbounded = try Self.loadInChild(path, maximumMegabytes: 8 << 10).output
        #expect(unbounded == "error outOfMemory" || unbounded == "error tooLarge", "\(unbounded)")
    }
}
