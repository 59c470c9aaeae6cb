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
        // Pickle-specific mutations: an opcode inserted, a byte removed.
        let extra: [(inout [UInt8], inout SeededGenerator) -> Void] = [
            { bytes, random in bytes.insert(opcodes.randomElement(using: &random)!, at: Int.random(in: 0..<bytes.count, using: &random)) },
            { bytes, random in bytes.remove(at: Int.random(in: 0..<bytes.count, using: &random)) },
        ]
        let duration = Self.seconds > 0 ? Self.seconds : 4
        let path = directory.path("fuzz.joblib")
        var fuzz = FuzzLoop(PersistenceError.self) { $0.code.rawValue }
        try fuzz.run(seconds: duration) { fuzz in
            var bytes = corpus[Int.random(in: 0..<corpus.count, using: &fuzz.random)]
            fuzz.mutate(&bytes, interesting: interesting, extra: extra)
            let data = Data(bytes)
            fuzz.attempt { _ = try load(PythonValue.self, from: data).description }
            fuzz.attempt { _ = try load(Typed.self, from: data) }
            fuzz.attempt { _ = try load(NDArray<Double>.self, from: data) }
            if fuzz.iterations % 16 == 0 {
                try data.write(to: URL(fileURLWithPath: path))
                fuzz.attempt {
                    let value = try load(PythonValue.self, from: path, mapping: .readOnly) { _ in }
                    if case .array(let array)? = value["f64"] { _ = array.elements }
                }
            }
        }
        print(fuzz.summary("pickle fuzz", seconds: duration))
        #expect(fuzz.iterations > 100)
    }
}
