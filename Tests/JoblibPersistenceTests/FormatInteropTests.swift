import Foundation
import JoblibPersistence
import JoblibTestSupport
import Testing

@Suite(.timeLimit(.minutes(1)))
struct FormatInteropTests {
    /// `.lzma` is the LZMA-alone format, as Python's joblib writes it: Python's `lzma` module reads
    /// ours with FORMAT_ALONE, and we read what it writes (and xz streams too).
    @Test func lzmaFilesAreLZMAAloneBothWays() throws {
        guard let python = TestSupport.which("python3") else {
            Issue.record("python3 is needed (scripts/setup.sh)")
            return
        }
        let scratch = try Scratch()
        let model = Model.sample(seed: 11)
        try dump(model, to: scratch.path("m.joblib.lzma"))
        try dump(model, to: scratch.path("m.joblib"))
        let script = """
            import lzma, sys
            d = sys.argv[1]
            raw = lzma.decompress(open(d + '/m.joblib.lzma', 'rb').read(), format=lzma.FORMAT_ALONE)
            same = raw == open(d + '/m.joblib', 'rb').read()
            open(d + '/py.lzma', 'wb').write(lzma.compress(raw, format=lzma.FORMAT_ALONE, preset=3))
            open(d + '/py.xz', 'wb').write(lzma.compress(raw, format=lzma.FORMAT_XZ))
            print('same' if same else 'different')
            """
        let run = try TestSupport.run(python, ["-c", script, scratch.url.path])
        #expect(run.status == 0)
        #expect(run.output.trimmingCharacters(in: .whitespacesAndNewlines) == "same")
        #expect(try load(Model.self, from: scratch.path("py.lzma")) == model)
        #expect(try load(Model.self, from: scratch.path("py.xz")) == model)
    }

    /// joblib's own read-write test maps 100 × Int32 (400 bytes): small NDArrays are sections too
    /// now, so a `.readWrite` load maps them and writes reach the file.
    @Test func readWriteMappingReachesSmallArrays() throws {
        let scratch = try Scratch()
        let path = scratch.path("small.joblib")
        try dump(NDArray(shape: [100], (0..<100).map(Int32.init)), to: path)
        do {
            var array = try load(NDArray<Int32>.self, from: path, mapping: .readWrite)
            #expect(array.isMemoryMapped)
            array[7] = -7
            #expect(array.isMemoryMapped)
        }
        #expect(try load(NDArray<Int32>.self, from: path)[7] == -7)
        struct Pair: Codable { var tiny: NDArray<Double>; var empty: NDArray<Float> }
        try dump(Pair(tiny: NDArray(shape: [2], [1, 2]), empty: NDArray(shape: [0], [])), to: path)
        do {
            var pair = try load(Pair.self, from: path, mapping: .readWrite)
            pair.tiny[1] = 20
        }
        #expect(try load(Pair.self, from: path).tiny[1] == 20)
    }

    /// An NDArray stored inline (as files of format version 1 store small arrays) cannot be mapped:
    /// a `.readWrite` load says so instead of handing out a copy whose writes would be lost.
    @Test func readWriteOfAnInlineArrayIsAClearError() throws {
        struct InlineLayout: Codable { var shape: [Int]; var elements: [Int32] }  // NDArray's coding keys
        let scratch = try Scratch()
        let path = scratch.path("inline.joblib")
        try dump(InlineLayout(shape: [100], elements: (0..<100).map(Int32.init)), to: path)
        let failure = try #require(loadFailure { _ = try load(NDArray<Int32>.self, from: path, mapping: .readWrite) })
        #expect(failure.code == .unsupportedFeature)
        #expect(failure.error.message.contains("inline") && failure.error.message.contains(".copyOnWrite"), "\(failure.error.message)")
        #expect(try load(NDArray<Int32>.self, from: path, mapping: .copyOnWrite)[99] == 99)
        #expect(try load(NDArray<Int32>.self, from: path)[99] == 99)
    }
}
