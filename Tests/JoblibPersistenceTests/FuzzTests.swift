import Foundation
import JoblibCoding
import JoblibPersistence
import JoblibTestSupport
import Testing

/// A randomized loader fuzzer: mutates valid files (bit flips, interesting values in 64-bit fields,
/// cuts, splices), often repairing the checksums so that mutations reach the validation behind
/// them, and loads the result as several types. Anything but a `PersistenceError` fails the test;
/// a crash fails the run. A few seconds in every test run; `make fuzz` runs it for 10 minutes
/// (`JOBLIB_FUZZ_SECONDS`). `JOBLIB_FUZZ_SEED` replays a run.
@Suite struct FuzzTests {
    static let seconds = Double(ProcessInfo.processInfo.environment["JOBLIB_FUZZ_SECONDS"] ?? "") ?? 5

    @Test(.enabled(if: seconds > 0)) func fuzzTheLoader() throws {
        let scratch = try Scratch()
        let path = scratch.path("fuzz.joblib")
        var corpus: [[UInt8]] = []
        for compression in [Compression.none, .zlib(level: 1), .gzip(level: 1), .bz2(level: 1), .xz(level: 0), .lzma(level: 0), .lz4(level: 0), .zstd(level: 1)] {
            corpus.append([UInt8](try dump(GoldenModel.reference, compression: compression)))
        }
        // Files of format version 1, as older writers made them.
        for name in ["model-v1.joblib", "model-v1.joblib.zst"] {
            corpus.append([UInt8](try Data(contentsOf: GoldenTests.directory.appendingPathComponent(name))))
        }
        corpus.append([UInt8](try dump(NDArray(shape: [3, 200], (0..<600).map(Double.init)))))
        corpus.append([UInt8](try dump(["a": [1.0, 2.0], "b": []])))
        try GoldenModel.reference.weights.write(npyTo: scratch.path("w.npy"), durable: false)
        let npy = [UInt8](try Data(contentsOf: URL(fileURLWithPath: scratch.path("w.npy"))))

        let interesting: [UInt64] = [0, 1, 63, 64, 65, 0x7F, 0x80, 0xFF, 0xFFFF, 1 << 31, 1 << 32, 1 << 62, 1 << 63, .max, .max - 63]
        var fuzz = FuzzLoop(PersistenceError.self) { $0.code.rawValue }
        try fuzz.run(seconds: Self.seconds) { fuzz in
            let useNpy = Int.random(in: 0..<10, using: &fuzz.random) == 0
            var bytes = useNpy ? npy : corpus[Int.random(in: 0..<corpus.count, using: &fuzz.random)]
            fuzz.mutate(&bytes, interesting: interesting)
            if !useNpy && Int.random(in: 0..<2, using: &fuzz.random) == 0 { ContainerSurgery.repairChecksums(&bytes) }
            let data = Data(bytes)
            if useNpy {
                try data.write(to: URL(fileURLWithPath: path))
                fuzz.attempt { _ = try NDArray<Double>(npyFrom: path) }
                return
            }
            fuzz.attempt { _ = try load(GoldenModel.self, from: data) }
            fuzz.attempt { _ = try load(GoldenModel.self, from: data, maximumSize: .kilobytes(16)) }
            fuzz.attempt { _ = try load(NDArray<Double>.self, from: data) }
            fuzz.attempt { _ = try load([String: [Double]].self, from: data) }
            if fuzz.iterations % 8 == 0 {
                try data.write(to: URL(fileURLWithPath: path))
                let mode = [MappingMode.readOnly, .copyOnWrite, .readWrite][fuzz.iterations / 8 % 3]
                fuzz.attempt {
                    var array = try load(NDArray<Double>.self, from: path, mapping: mode) { _ in }
                    _ = array.reduce(0, +)
                    if !array.isEmpty { array[0] = 1 }
                }
            }
        }
        print(fuzz.summary("fuzz", seconds: Self.seconds))
    }
}
