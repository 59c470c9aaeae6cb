import Foundation
import JoblibPersistence
import JoblibPickle
import JoblibTestSupport
import Testing

/// A randomized fuzzer for Python joblib files: mutates real files (written by Python's joblib
/// and by Swift: bit flips, random bytes, interesting 32- and 64-bit values, cuts, splices,
/// inserted opcodes) and loads the result as several types, from memory and mapped from a file.
/// Anything but a `PersistenceError` fails the test; a crash fails the run. A short run is part
/// of the suite; `JOBLIB_FUZZ_SECONDS=180 swift test --filter PickleFuzz` runs longer, and
/// `JOBLIB_FUZZ_SEED` replays a run.
@Suite(.timeLimit(.minutes(5))) struct PickleFuzzTests {
    static let seconds = Double(ProcessInfo.processInfo.environment["JOBLIB_FUZZ_SECONDS"] ?? "") ?? 0

    private struct Typed: Decodable {
        var f64: NDArray<Double>?
        var list: [PythonValue]?
        var str: String?
        var mean_: [Double]?
    }

    @Test func fuzzPythonJoblibFiles() throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["JOBLIB_FUZZ_SEED"] ?? "") ?? UInt64.random(in: 0 ... .max)
        var random = SeededGenerator(seed: seed)
        let directory = try TemporaryDirectory()
        try PythonScript.run(["fuzz-corpus", directory.url.path])
        var corpus = try directory.files.map { [UInt8](try Data(contentsOf: directory.url.appendingPathComponent($0))) }
        let swiftValue = PythonValue.dict([
            PythonDictEntry(key: .string("f64"), value: .array(NumpyArray(shape: [2, 3], (0..<6).map(Double.init)))),
            PythonDictEntry(key: .string("list"), value: .list([.int(1), .bigInt(PythonBigInt(UInt64.max)), .complex(real: 1, imaginary: 2), .set([.none])])),
            PythonDictEntry(key: .string("str"), value: .string("text")),
        ])
        for compression in [Compression.none, .zlib(level: 1), .lz4(level: 0)] {
            corpus.append([UInt8](try dump(swiftValue, compression: compression, format: .pythonJoblib)))
        }
        let interesting: [UInt64] = [0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFF_FFFF, 0xFFFF_FFFF, 1 << 32, 1 << 62, 1 << 63, .max]
        let opcodes: [UInt8] = [0x28, 0x2E, 0x30, 0x31, 0x32, 0x52, 0x61, 0x62, 0x65, 0x68, 0x71, 0x73, 0x74, 0x75, 0x81, 0x85, 0x86, 0x87, 0x8A, 0x8B, 0x93, 0x94, 0x95, 0x97]
        let duration = Self.seconds > 0 ? Self.seconds : 4
        let deadline = Date().addingTimeInterval(duration)
        var iterations = 0, loaded = 0
        var codes: [String: Int] = [:]
        let path = directory.path("fuzz.joblib")
        while Date() < deadline {
            iterations += 1
            var bytes = corpus[Int.random(in: 0..<corpus.count, using: &random)]
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                guard !bytes.isEmpty else { break }
                let at = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<7, using: &random) {
                case 0: bytes[at] ^= 1 << UInt8.random(in: 0...7, using: &random)
                case 1: bytes[at] = UInt8.random(in: 0...255, using: &random)
                case 2:
                    let width = [1, 2, 4, 8].randomElement(using: &random)!
                    let value = interesting.randomElement(using: &random)!
                    for index in 0..<width where at + index < bytes.count { bytes[at + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
                case 3: bytes.removeLast(Int.random(in: 0...bytes.count, using: &random))
                case 4:
                    let length = Int.random(in: 0...min(64, bytes.count - at), using: &random)
                    bytes.insert(contentsOf: bytes[at..<at + length], at: Int.random(in: 0...bytes.count, using: &random))
                case 5: bytes.insert(opcodes.randomElement(using: &random)!, at: at)
                default: bytes.remove(at: at)
                }
            }
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
            attempt { _ = try load(PythonValue.self, from: data).description }
            attempt { _ = try load(Typed.self, from: data) }
            attempt { _ = try load(NDArray<Double>.self, from: data) }
            if iterations % 16 == 0 {
                try data.write(to: URL(fileURLWithPath: path))
                attempt {
                    let value = try load(PythonValue.self, from: path, mapping: .readOnly) { _ in }
                    if case .array(let array)? = value["f64"] { _ = array.elements }
                }
            }
        }
        print("pickle fuzz: seed \(seed), \(iterations) inputs in \(duration) s, \(loaded) loaded, errors by code: \(codes.sorted { $0.key < $1.key })")
        #expect(iterations > 100)
    }
}
