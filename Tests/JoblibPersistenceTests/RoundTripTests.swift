import Foundation
import JoblibPersistence
import JoblibTestSupport
import SystemPackage
import Testing

@Suite struct RoundTripTests {
    @Test(arguments: allCompressions)
    func nestedModelRoundTripsInEveryMappingMode(compression: Compression) throws {
        let scratch = try Scratch()
        let path = scratch.path("model.joblib")
        let model = Model.sample()
        try dump(model, to: path, compression: compression)
        #expect(try load(Model.self, from: path) == model)
        for mode in [MappingMode.readOnly, .copyOnWrite, .readWrite] {
            var warnings: [String] = []
            let loaded = try load(Model.self, from: path, mapping: mode) { warnings.append($0) }
            #expect(loaded == model)
            #expect(loaded.layers[0].weights.isMemoryMapped == (compression == .none))
            // A compressed file is decompressed and says so exactly once per load.
            #expect(warnings.count == (compression == .none ? 0 : 1))
        }
    }

    @Test(arguments: allCompressions)
    func dataFormRoundTrips(compression: Compression) throws {
        let model = Model.sample(seed: 7)
        let bytes = try dump(model, compression: compression)
        #expect(try load(Model.self, from: bytes) == model)
    }

    @Test func plainValuesRoundTrip() throws {
        let scratch = try Scratch()
        let path = FilePath(scratch.path("values.joblib"))
        try dump([1.5, 2.5], to: path, durable: false)
        #expect(try load([Double].self, from: path) == [1.5, 2.5])
        try dump("text", to: path)
        #expect(try load(String.self, from: path) == "text")
        let empty = NDArray<Float>(shape: [0, 3], [])
        try dump(empty, to: path)
        #expect(try load(NDArray<Float>.self, from: path, mapping: .readOnly) == empty)
        let big = (0..<100_000).map(Double.init)
        try dump(big, to: path)
        #expect(try load([Double].self, from: path, mapping: .readOnly) == big)
    }

    @Test func compressionIsInferredFromTheExtensionAndDetectedFromTheBytes() throws {
        let scratch = try Scratch()
        let model = Model.sample(seed: 3)
        let expected: [String: [UInt8]] = [
            "m.z": [0x78], "m.gz": [0x1F, 0x8B], "m.bz2": [0x42, 0x5A, 0x68], "m.xz": [0xFD, 0x37, 0x7A],
            "m.lzma": [0x5D, 0x00, 0x00], "m.lz4": [0x04, 0x22, 0x4D, 0x18], "m.zst": [0x28, 0xB5, 0x2F, 0xFD],
            "m.joblib": [0x89, 0x4A, 0x4F, 0x42], "m.pkl": [0x89, 0x4A, 0x4F, 0x42],
        ]
        for (name, magic) in expected {
            try dump(model, to: scratch.path(name))
            let bytes = try Data(contentsOf: URL(fileURLWithPath: scratch.path(name)))
            #expect(Array(bytes.prefix(magic.count)) == magic, "\(name)")
            // Renamed to a neutral name, it still loads: detection is by content.
            try FileManager.default.moveItem(atPath: scratch.path(name), toPath: scratch.path(name + ".data"))
            #expect(try load(Model.self, from: scratch.path(name + ".data")) == model, "\(name)")
        }
        #expect(Compression.inferred(from: "a.ZST") == .zstd(level: 3))
        #expect(Compression.inferred(from: "a.joblib") == .none)
    }

    @Test func readWriteMappingWritesReachTheFileAndCopyOnWriteDoNot() throws {
        let scratch = try Scratch()
        let path = scratch.path("array.joblib")
        let original = NDArray(shape: [100, 10], (0..<1000).map(Double.init))
        try dump(original, to: path)

        var private_ = try load(NDArray<Double>.self, from: path, mapping: .copyOnWrite)
        private_[[0, 0]] = -1
        #expect(private_.isMemoryMapped && private_[0] == -1)
        #expect(try load(NDArray<Double>.self, from: path) == original)

        var readOnly = try load(NDArray<Double>.self, from: path, mapping: .readOnly)
        readOnly[5] = -5  // copies into memory first; the file is untouched
        #expect(!readOnly.isMemoryMapped && readOnly[5] == -5)
        #expect(try load(NDArray<Double>.self, from: path)[5] == 5)

        do {
            var shared = try load(NDArray<Double>.self, from: path, mapping: .readWrite)
            shared[[99, 9]] = 42
            shared.withUnsafeMutableBufferPointer { $0[1] = 43 }
            #expect(shared.isMemoryMapped)
        }
        let reread = try load(NDArray<Double>.self, from: path)
        #expect(reread[999] == 42 && reread[1] == 43 && reread[2] == 2)
        // Another mapping sees the same bytes, and later loads do not report them as corrupt.
        #expect(try load(NDArray<Double>.self, from: path, mapping: .readOnly)[999] == 42)
    }

    @Test func aMappedArrayOutlivesItsLoadAndCopiesAreIndependent() throws {
        let scratch = try Scratch()
        let path = scratch.path("a.joblib")
        try dump(NDArray(shape: [4, 64], (0..<256).map(Float.init)), to: path)
        var mapped = try load(NDArray<Float>.self, from: path, mapping: .readWrite)
        let copy = mapped
        mapped[0] = 100
        // Value semantics: mutating a shared array gives it its own memory; the copy keeps the view.
        #expect(copy[0] == 0 && copy.isMemoryMapped && !mapped.isMemoryMapped && mapped[0] == 100)
        #expect(mapped.reshaped([256]).count == 256)
    }

    @Test func invalidLevelsAreRejected() throws {
        let scratch = try Scratch()
        #expect(persistenceErrorCode { try dump([1], to: scratch.path("x"), compression: .zstd(level: 99)) } == .invalidArgument)
        #expect(persistenceErrorCode { _ = try dump([1], compression: .bz2(level: 0)) } == .invalidArgument)
        #expect(!FileManager.default.fileExists(atPath: scratch.path("x")))
    }

    @Test func aFailedDumpLeavesTheOldFile() throws {
        struct Failing: Encodable {
            func encode(to encoder: any Encoder) throws { throw CocoaError(.featureUnsupported) }
        }
        let scratch = try Scratch()
        let path = scratch.path("keep.joblib")
        try dump([1, 2, 3], to: path)
        #expect(persistenceErrorCode { try dump(Failing(), to: path) } == .encodingFailed)
        #expect(try load([Int].self, from: path) == [1, 2, 3])
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.url.path) == ["keep.joblib"])
    }
}
