import Foundation
import JoblibCoding
import JoblibPersistence
import Testing

/// A value whose every number is given by a formula (not a random generator, whose algorithm may
/// change between Swift versions), with every kind of item the format has.
struct GoldenModel: Codable, Equatable {
    var name: String
    var weights: NDArray<Double>
    var counts: NDArray<Int32>
    var bias: [Float]
    var small: [UInt16]
    var flags: [Bool]
    var nested: [[String: Int]]
    var optional: Double?
    var bytes: Data

    static let reference = GoldenModel(
        name: "golden ✓",
        weights: NDArray(shape: [32, 16], (0..<512).map { Double($0) * 0.25 - 3 }),
        counts: NDArray(shape: [4, 4, 16], (0..<256).map { Int32($0 * 7 - 900) }),
        bias: (0..<300).map { Float($0) / 8 },
        small: [1, 2, 65535],
        flags: [true, false, true],
        nested: [["a": 1], [:]],
        optional: nil,
        bytes: Data((0..<1000).map { UInt8($0 % 251) }))
}

/// Files of format version 1 committed under Golden/: a change that cannot read them fails here.
/// Regenerate (only when deliberately adding files) with JOBLIB_WRITE_GOLDEN=1.
@Suite struct GoldenTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")
    static let files: [(name: String, compression: Compression)] = [
        ("model-v1.joblib", .none), ("model-v1.joblib.z", .zlib(level: 3)), ("model-v1.joblib.gz", .gzip(level: 3)),
        ("model-v1.joblib.bz2", .bz2(level: 3)), ("model-v1.joblib.xz", .xz(level: 3)),
        ("model-v1.joblib.lz4", .lz4(level: 0)), ("model-v1.joblib.zst", .zstd(level: 3)),
    ]

    @Test func goldenFilesOfVersion1Load() throws {
        // Version 1 files are history now: they are never rewritten, only read.
        if ProcessInfo.processInfo.environment["JOBLIB_WRITE_GOLDEN_V1"] == "1" {
            for (name, compression) in Self.files {
                try dump(GoldenModel.reference, to: Self.directory.appendingPathComponent(name).path, compression: compression)
            }
            try GoldenModel.reference.weights.write(npyTo: Self.directory.appendingPathComponent("weights-v1.npy").path)
        }
        for (name, _) in Self.files {
            let path = Self.directory.appendingPathComponent(name).path
            #expect(try load(GoldenModel.self, from: path) == GoldenModel.reference, "\(name)")
            #expect(try load(GoldenModel.self, from: path, mapping: .readOnly) { _ in } == GoldenModel.reference, "\(name)")
        }
        let npy = try NDArray<Double>(npyFrom: Self.directory.appendingPathComponent("weights-v1.npy").path)
        #expect(npy == GoldenModel.reference.weights)
    }

    /// Today's writer produces the golden bytes exactly (for a value without dictionaries, whose
    /// order varies between processes). If this fails the format changed: bump the version.
    /// Version 1's file still loads (the version-1 writer produced it).
    @Test func theWriterStillProducesVersion2Bytes() throws {
        var reference = GoldenModel.reference
        reference.nested = []
        let current = try dump(reference)
        if ProcessInfo.processInfo.environment["JOBLIB_WRITE_GOLDEN"] == "1" {
            try current.write(to: Self.directory.appendingPathComponent("arrays-v2.joblib"))
        }
        let golden = try Data(contentsOf: Self.directory.appendingPathComponent("arrays-v2.joblib"))
        #expect(current == golden)
        #expect(try load(GoldenModel.self, from: golden) == reference)
        let version1 = try Data(contentsOf: Self.directory.appendingPathComponent("arrays-v1.joblib"))
        #expect(version1[8] == 1 && golden[8] == 2)
        #expect(try load(GoldenModel.self, from: version1) == reference)
    }
}
