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
        let seed = UInt64(ProcessInfo.processInfo.environment["JOBLIB_FUZZ_SEED"] ?? "") ?? UInt64.random(in: 0 ... .max)
        var random = SeededGenerator(seed: seed)
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
        var npy = [UInt8]()
        try GoldenModel.reference.weights.write(npyTo: scratch.path("w.npy"), durable: false)
        npy = [UInt8](try Data(contentsOf: URL(fileURLWithPath: scratch.path("w.npy"))))

        let interesting: [UInt64] = [0, 1, 63, 64, 65, 0x7F, 0x80, 0xFF, 0xFFFF, 1 << 31, 1 << 32, 1 << 62, 1 << 63, .max, .max - 63]
        let deadline = Date().addingTimeInterval(Self.seconds)
        var iterations = 0, loaded = 0
        var codes: [String: Int] = [:]
        while Date() < deadline {
            iterations += 1
            let useNpy = Int.random(in: 0..<10, using: &random) == 0
            var bytes = useNpy ? npy : corpus[Int.random(in: 0..<corpus.count, using: &random)]
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                guard !bytes.isEmpty else { break }
                switch Int.random(in: 0..<6, using: &random) {
                case 0:
                    let bit = Int.random(in: 0..<bytes.count * 8, using: &random)
                    bytes[bit / 8] ^= 1 << UInt8(bit % 8)
                case 1:
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                case 2 where bytes.count >= 8:
                    let at = Int.random(in: 0...(bytes.count - 8), using: &random)
                    let value = Bool.random(using: &random) ? interesting.randomElement(using: &random)! : UInt64.random(in: 0...UInt64(bytes.count) * 2, using: &random)
                    ContainerSurgery.writeU64(&bytes, at, value)
                case 3:
                    bytes.removeLast(Int.random(in: 0...bytes.count, using: &random))
                case 4:
                    let from = Int.random(in: 0..<bytes.count, using: &random)
                    let length = Int.random(in: 0...min(256, bytes.count - from), using: &random)
                    let to = Int.random(in: 0...bytes.count, using: &random)
                    bytes.insert(contentsOf: bytes[from..<from + length], at: to)
                default:
                    break
                }
            }
            if !useNpy && Int.random(in: 0..<2, using: &random) == 0 { ContainerSurgery.repairChecksums(&bytes) }
            func attempt(_ body: () throws -> Void) {
                do {
                    try body()
                    loaded += 1
                } catch let error as PersistenceError {
                    codes[error.code.rawValue, default: 0] += 1
                } catch {
                    Issue.record("seed \(seed) iteration \(iterations): \(type(of: error)) is not a PersistenceError: \(error)")
                }
            }
            let data = Data(bytes)
            if useNpy {
                try data.write(to: URL(fileURLWithPath: path))
                attempt { _ = try NDArray<Double>(npyFrom: path) }
                continue
            }
            attempt { _ = try load(GoldenModel.self, from: data) }
            attempt { _ = try load(GoldenModel.self, from: data, maximumSize: .kilobytes(16)) }
            attempt { _ = try load(NDArray<Double>.self, from: data) }
            attempt { _ = try load([String: [Double]].self, from: data) }
            if iterations % 8 == 0 {
                try data.write(to: URL(fileURLWithPath: path))
                let mode = [MappingMode.readOnly, .copyOnWrite, .readWrite][iterations / 8 % 3]
                attempt {
                    var array = try load(NDArray<Double>.self, from: path, mapping: mode) { _ in }
                    _ = array.reduce(0, +)
                    if !array.isEmpty { array[0] = 1 }
                }
            }
        }
        print("fuzz: seed \(seed), \(iterations) inputs in \(Self.seconds) s, \(loaded) loaded, errors by code: \(codes.sorted { $0.key < $1.key })")
    }
}
