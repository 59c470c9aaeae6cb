import Foundation
import JoblibPersistence
import JoblibPickle
import Testing

/// What `joblib_files.py check-swift` expects to find in every file.
private struct ForPython: Codable, Equatable {
    var name = "swift ✓"
    var count = 3
    var ratio = 0.5
    var flag = true
    var missing: String? = nil
    var values: [Double] = [1, 2.5, -3]
    var ints: [Int] = [1, -2, 3]
    var floats: [Float] = [0.5, 1.5]
    var matrix = NDArray(shape: [3, 4], (0..<12).map { Double($0) / 8 })
    var bytes: [UInt8] = [0, 1, 2, 3, 4]
    var words = ["a", "b"]
    var nested = ["inner": [true, false]]
    var big = NDArray((0..<300_000).map { Double($0) / 3 })
}

@Suite(.timeLimit(.minutes(2))) struct WritePythonFilesTests {
    /// Python's joblib.load reads what Swift writes, with equal values, compressed or not; and
    /// maps the arrays of uncompressed files with mmap_mode="r".
    @Test func pythonReadsWhatSwiftWrites() throws {
        let directory = try TemporaryDirectory()
        let value = ForPython()
        try dump(value, to: directory.path("raw-plain.joblib"), format: .pythonJoblib)
        try dump(value, compression: .none, format: .pythonJoblib).write(to: directory.url.appendingPathComponent("raw-data.joblib"))
        let compressions: [(String, Compression)] = [
            ("zlib", .zlib(level: 3)), ("zlib0", .zlib(level: 0)), ("gzip", .gzip(level: 9)), ("bz2", .bz2(level: 1)),
            ("xz", .xz(level: 1)), ("lz4", .lz4(level: 0)), ("lz4hc", .lz4(level: 9)),
        ]
        for (name, compression) in compressions {
            try dump(value, to: directory.path("\(name).joblib"), compression: compression, format: .pythonJoblib, durable: false)
        }
        try dump(value, to: directory.path("automatic.joblib.gz"), format: .pythonJoblib, durable: false)
        let output = try PythonScript.run(["check-swift", directory.url.path])
        let lines = output.split(separator: "\n").map(String.init)
        let expected = (["automatic.joblib.gz"] + compressions.map { "\($0.0).joblib" } + ["raw-data.joblib", "raw-data.joblib mmap", "raw-plain.joblib", "raw-plain.joblib mmap"])
            .map { "ok \($0)" }
        #expect(Set(lines.filter { !$0.hasPrefix("done") }) == Set(expected), "\(output)")

        // And Swift reads them back as the same value.
        for file in directory.files {
            #expect(try load(ForPython.self, from: directory.path(file)) == value, "\(file)")
        }
        let mapped = try load(ForPython.self, from: directory.path("raw-plain.joblib"), mapping: .readOnly)
        #expect(mapped.big.isMemoryMapped && mapped == value)
    }

    /// Only plain data is written; zstd, which joblib cannot read, is refused.
    @Test func refusesWhatPythonCannotReadSafely() throws {
        let directory = try TemporaryDirectory()
        let object = PythonValue.object(PythonObject(className: "posix.system", arguments: [.string("true")]))
        for value in [object, .global(module: "os", name: "system"), .list([.int(1), object])] {
            #expect(throws: PersistenceError.self) { try dump(value, to: directory.path("x.joblib"), format: .pythonJoblib) }
            do {
                _ = try dump(value, format: .pythonJoblib)
            } catch let error as PersistenceError {
                #expect(error.code == .encodingFailed && error.message.contains("not plain data"), "\(error)")
            }
        }
        do {
            try dump([1.0], to: directory.path("x.joblib"), compression: .zstd(level: 3), format: .pythonJoblib)
            Issue.record("zstd was accepted")
        } catch let error as PersistenceError {
            #expect(error.code == .invalidArgument)
        }
        #expect(!FileManager.default.fileExists(atPath: directory.path("x.joblib")))
    }

    /// Plain Python values survive a write and a read unchanged (tuples, sets, big integers…).
    @Test func pythonValuesRoundTrip() throws {
        let value = PythonValue.dict([
            PythonDictEntry(key: .string("tuple"), value: .tuple([.int(1), .string("a"), .none, .float(-0.5)])),
            PythonDictEntry(key: .int(7), value: .set([.int(1)])),
            PythonDictEntry(key: .string("frozen"), value: .frozenSet([.string("x")])),
            PythonDictEntry(key: .string("big"), value: .bigInt(PythonBigInt(UInt64.max))),
            PythonDictEntry(key: .string("negative"), value: .int(Int.min)),
            PythonDictEntry(key: .string("complex"), value: .complex(real: 1, imaginary: -2)),
            PythonDictEntry(key: .string("bytes"), value: .bytes(Array(0...255))),
            PythonDictEntry(key: .string("bytearray"), value: .byteArray([1, 2])),
            PythonDictEntry(key: .string("long"), value: .string(String(repeating: "é", count: 300))),
            PythonDictEntry(key: .string("list"), value: .list((0..<2500).map { .int($0 * 1000) })),
            PythonDictEntry(key: .string("array"), value: .array(NumpyArray(shape: [2, 2], [Int32(1), 2, 3, 4]))),
            PythonDictEntry(key: .string("dtype"), value: .dtype(NumpyDType(kind: "f", itemSize: 4, isBigEndian: true))),
        ])
        let bytes = try dump(value, format: .pythonJoblib)
        #expect(try load(PythonValue.self, from: bytes) == value)
        for compression in [Compression.zlib(level: 1), .bz2(level: 1), .xz(level: 0), .lz4(level: 0), .gzip(level: 1)] {
            #expect(try load(PythonValue.self, from: try dump(value, compression: compression, format: .pythonJoblib)) == value)
        }
    }
}
