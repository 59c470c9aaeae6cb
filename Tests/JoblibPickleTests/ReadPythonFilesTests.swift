import Foundation
import JoblibPersistence
import JoblibPickle
import Testing

/// What `joblib_files.py all-types` writes, as a Swift type: a typed load maps dict keys to fields.
private struct AllTypes: Decodable {
    var none: Int?
    var `true`: Bool
    var int: Int
    var int64min: Int64
    var float: Double
    var str: String
    var bytes: Data
    var list: [PythonValue]
    var f64: NDArray<Double>
    var f32be: [Float]
    var i32be: NDArray<Int32>
    var u64: [UInt64]
    var bool: NDArray<UInt8>
    var fortran: NDArray<Int16>
    var zero_d: NDArray<Double>
    var empty_array: NDArray<Double>
    var scalar_f64: Double
    var scalar_i32: Int
    var scalar_bool: Bool
    var long: [Double]
    var objects: [PythonValue]
    var f16: NDArray<Float16>
}

@Suite(.timeLimit(.minutes(2))) struct ReadPythonFilesTests {
    /// Every compression joblib offers (and several levels) × protocols 2 to 5: each value is checked.
    @Test func everyCompressionAndProtocol() throws {
        let directory = try TemporaryDirectory()
        try PythonScript.run(["all-types", directory.url.path])
        let files = directory.files
        #expect(files.count == 39)
        for file in files {
            let value = try load(PythonValue.self, from: directory.path(file))
            try checkAllTypes(value, file)
            let typed = try load(AllTypes.self, from: directory.path(file))
            checkTyped(typed, file)
        }
    }

    /// Plain `pickle.dump` files (not joblib's) hold numpy arrays too: `_reconstruct` with the
    /// bytes in its state (protocols 2–4) or `_frombuffer` with an in-band buffer (protocol 5).
    @Test func plainPickleArrays() throws {
        struct Plain: Decodable {
            var f64: NDArray<Double>
            var fortran: NDArray<Int32>
            var be: [Double]
            var objects: [Int?]
            var scalar: Float
        }
        let directory = try TemporaryDirectory()
        try PythonScript.run(["plain-pickles", directory.url.path])
        #expect(directory.files.count == 4)
        for file in directory.files {
            let plain = try load(Plain.self, from: directory.path(file))
            #expect(plain.f64.shape == [2, 3] && Array(plain.f64) == [0, 1, 2, 3, 4, 5], "\(file)")
            #expect(plain.fortran.shape == [2, 3] && Array(plain.fortran) == [0, 1, 2, 3, 4, 5], "\(file)")
            #expect(plain.be == [0, 1, 2] && plain.objects == [1, nil] && plain.scalar == 1.5, "\(file)")
        }
    }

    private func checkAllTypes(_ value: PythonValue, _ file: String) throws {
        func at(_ key: String) -> PythonValue { value[key] ?? .string("<missing \(key)>") }
        func array(_ key: String) -> NumpyArray? { if case .array(let a) = at(key) { a } else { nil } }
        #expect(at("none") == .none, "\(file)")
        #expect(at("true") == .bool(true) && at("false") == .bool(false), "\(file)")
        #expect(at("int") == .int(42) && at("negative") == .int(-7), "\(file)")
        #expect(at("int64max") == .int(Int.max) && at("int64min") == .int(Int.min), "\(file)")
        #expect(at("big").description == "1267650600228229401496703205376", "\(file)")
        #expect(at("bigneg").description == "-1180591620717411303421", "\(file)")
        #expect(at("float") == .float(2.5) && at("inf") == .float(-.infinity), "\(file)")
        #expect(at("complex") == .complex(real: 1.5, imaginary: -2), "\(file)")
        #expect(at("str") == .string("héllo ✓") && at("empty") == .string(""), "\(file)")
        #expect(at("bytes") == .bytes([0, 1, 0x78, 0x79, 0x7A]), "\(file)")
        #expect(at("bytearray") == .byteArray([0x61, 0x62, 0x63]), "\(file)")
        #expect(at("list") == .list([.int(1), .string("two"), .float(3), .none]), "\(file)")
        #expect(at("tuple") == .tuple([.int(1), .tuple([.int(2), .int(3)])]), "\(file)")
        #expect(at("dict") == .dict([PythonDictEntry(key: .string("a"), value: .int(1)), PythonDictEntry(key: .int(2), value: .string("b"))]), "\(file)")
        if case .set(let items) = at("set") {
            #expect(Set(items.map(\.description)) == ["1", "2", "3"], "\(file)")
        } else {
            Issue.record("\(file): set is \(at("set"))")
        }
        #expect(at("frozenset") == .frozenSet([.string("x")]), "\(file)")
        #expect(at("ordered") == .dict([PythonDictEntry(key: .string("z"), value: .int(1)), PythonDictEntry(key: .string("a"), value: .int(2))]), "\(file)")

        #expect(array("f64").map { $0.dtype == .float64 && $0.shape == [3, 4] } == true, "\(file)")
        #expect(try array("f64")?.values(as: Double.self) == (0..<12).map { Double($0) / 4 }, "\(file)")
        #expect(array("f32be")?.dtype.description == ">float32", "\(file)")
        #expect(try array("f32be")?.values(as: Float.self) == [0, 1, 2, 3, 4, 5], "\(file)")
        #expect(try array("f16")?.values(as: Float16.self) == [0.5, -1, 65504], "\(file)")
        #expect(try array("i8")?.values(as: Int8.self) == [-128, 0, 127], "\(file)")
        #expect(try array("i16")?.values(as: Int16.self) == [-32768, 1, 32767], "\(file)")
        #expect(try array("i32be")?.values(as: Int32.self) == [.min, 1, .max], "\(file)")
        #expect(try array("i64")?.values(as: Int64.self) == [-(1 << 62), 1 << 40, -1], "\(file)")
        #expect(try array("u8")?.values(as: UInt8.self) == [0, 255], "\(file)")
        #expect(try array("u16")?.values(as: UInt16.self) == [0, 65535], "\(file)")
        #expect(try array("u32")?.values(as: UInt32.self) == [0, .max], "\(file)")
        #expect(try array("u64")?.values(as: UInt64.self) == [0, .max], "\(file)")
        #expect(array("bool")?.elements == [.bool(true), .bool(false), .bool(false), .bool(true)], "\(file)")
        #expect(array("c64")?.elements == [.complex(real: 1, imaginary: 2), .complex(real: 0, imaginary: -3.5)], "\(file)")
        #expect(array("c128be")?.elements == [.complex(real: 1, imaginary: 2), .complex(real: 0.25, imaginary: -1)], "\(file)")
        #expect(array("fortran").map { $0.isFortranOrder && $0.shape == [2, 3, 4] } == true, "\(file)")
        #expect(try array("fortran")?.values(as: Int16.self) == (0..<24).map(Int16.init), "\(file)")
        #expect(array("zero_d").map { $0.shape == [] && $0.elements == [.float(3.25)] } == true, "\(file)")
        #expect(array("empty_array").map { $0.shape == [0, 4] && $0.count == 0 } == true, "\(file)")
        #expect(at("objects") == .list([.int(1), .string("a"), .none]), "\(file)")
        #expect(at("objects2d") == .list([.list([.int(1), .string("a")]), .list([.none, .float(2.5)])]), "\(file)")
        if case .numpyScalar(let scalar) = at("scalar_f64") {
            #expect(scalar.dtype == .float64 && scalar.elements == [.float(2.5)], "\(file)")
        } else {
            Issue.record("\(file): scalar_f64 is \(at("scalar_f64"))")
        }
        if case .numpyScalar(let scalar) = at("scalar_i32") { #expect(scalar.elements == [.int(-5)], "\(file)") }
        if case .numpyScalar(let scalar) = at("scalar_bool") { #expect(scalar.elements == [.bool(true)], "\(file)") }
        #expect(at("dtype") == .dtype(NumpyDType(kind: "i", itemSize: 4, isBigEndian: true)), "\(file)")
        #expect(try array("long")?.values(as: Double.self) == (0..<100_000).map { Double($0) * 0.5 }, "\(file)")
    }

    private func checkTyped(_ value: AllTypes, _ file: String) {
        #expect(value.none == nil && value.true && value.int == 42 && value.int64min == .min, "\(file)")
        #expect(value.float == 2.5 && value.str == "héllo ✓" && value.bytes == Data([0, 1, 0x78, 0x79, 0x7A]), "\(file)")
        #expect(value.list.count == 4, "\(file)")
        #expect(value.f64.shape == [3, 4] && Array(value.f64) == (0..<12).map { Double($0) / 4 }, "\(file)")
        #expect(value.f32be == [0, 1, 2, 3, 4, 5], "\(file)")
        #expect(Array(value.i32be) == [.min, 1, .max], "\(file)")
        #expect(value.u64 == [0, .max], "\(file)")
        #expect(Array(value.bool) == [1, 0, 0, 1], "\(file)")
        #expect(value.fortran.shape == [2, 3, 4] && value.fortran[[1, 2, 3]] == 23, "\(file)")
        #expect(value.zero_d.shape == [] && Array(value.zero_d) == [3.25], "\(file)")
        #expect(value.empty_array.shape == [0, 4] && value.empty_array.isEmpty, "\(file)")
        #expect(value.scalar_f64 == 2.5 && value.scalar_i32 == -5 && value.scalar_bool, "\(file)")
        #expect(value.long.count == 100_000 && value.long[99_999] == 49_999.5, "\(file)")
        #expect(value.objects == [.int(1), .string("a"), .none], "\(file)")
        #expect(Array(value.f16) == [0.5, -1, 65504], "\(file)")
    }
}
