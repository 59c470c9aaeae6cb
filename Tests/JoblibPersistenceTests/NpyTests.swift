import Foundation
import JoblibCoding
import JoblibPersistence
import JoblibTestSupport
import Testing

/// Runs a Python snippet with numpy; returns its standard output, or records an issue.
private func python(_ script: String) throws -> String {
    let python3 = try #require(TestSupport.which("python3"), "python3 is needed for the numpy interchange tests")
    let result = try TestSupport.run(python3, ["-c", "import numpy as np\n" + script])
    try #require(result.status == 0, "python exited with \(result.status): \(result.output)")
    return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
}

@Suite(.timeLimit(.minutes(1))) struct NpyTests {
    /// numpy loads what we write, with the right dtype, shape and values.
    @Test func numpyReadsOurFiles() throws {
        let scratch = try Scratch()
        func check<E: BulkCodable & Numeric>(_: E.Type, _ dtype: String, shape: [Int]) throws {
            let count = shape.reduce(1, *)
            let array = NDArray<E>(shape: shape, (0..<count).map { E(exactly: $0 % 100)! })
            let path = scratch.path("\(dtype).npy")
            try array.write(npyTo: path, durable: false)
            let shapeText = "(" + shape.map(String.init).joined(separator: ",") + (shape.count == 1 ? ",)" : ")")
            let output = try python("""
                a = np.load('\(path)')
                expected = (np.arange(\(count)) % 100).astype('\(dtype)').reshape(\(shapeText))
                print(a.dtype == np.dtype('\(dtype)'), a.shape == expected.shape, np.array_equal(a, expected), a.flags['C_CONTIGUOUS'])
                """)
            #expect(output == "True True True True", "\(dtype) \(shape)")
        }
        try check(Double.self, "float64", shape: [3, 4])
        try check(Float.self, "float32", shape: [2, 3, 5])
        try check(Float16.self, "float16", shape: [7])
        try check(Int8.self, "int8", shape: [10])
        try check(Int16.self, "int16", shape: [2, 5])
        try check(Int32.self, "int32", shape: [5, 2])
        try check(Int64.self, "int64", shape: [1, 1, 10])
        try check(UInt8.self, "uint8", shape: [10])
        try check(UInt16.self, "uint16", shape: [10])
        try check(UInt32.self, "uint32", shape: [10])
        try check(UInt64.self, "uint64", shape: [10])
        try check(Double.self, "float64", shape: [])
        try check(Double.self, "float64", shape: [0, 4])
    }

    /// We load what numpy writes: both byte orders, Fortran order, bool, scalars.
    @Test func weReadNumpyFiles() throws {
        let scratch = try Scratch()
        let dir = scratch.url.path
        _ = try python("""
            np.save('\(dir)/f8.npy', np.arange(12, dtype='<f8').reshape(3, 4) / 4)
            np.save('\(dir)/f4be.npy', np.arange(6, dtype='>f4'))
            np.save('\(dir)/i2fortran.npy', np.asfortranarray(np.arange(24, dtype='<i2').reshape(2, 3, 4)))
            np.save('\(dir)/i8be.npy', np.array([-1, 2**40, -2**62], dtype='>i8'))
            np.save('\(dir)/bool.npy', np.array([[True, False], [False, True]]))
            np.save('\(dir)/u8.npy', np.array([0, 2**64 - 1], dtype='<u8'))
            np.save('\(dir)/scalar.npy', np.float64(2.5))
            np.save('\(dir)/objects.npy', np.array([{'a': 1}], dtype=object), allow_pickle=True)
            """)
        let f8 = try NDArray<Double>(npyFrom: "\(dir)/f8.npy")
        #expect(f8.shape == [3, 4] && Array(f8) == (0..<12).map { Double($0) / 4 })
        let f4 = try NDArray<Float>(npyFrom: "\(dir)/f4be.npy")
        #expect(Array(f4) == [0, 1, 2, 3, 4, 5])
        let fortran = try NDArray<Int16>(npyFrom: "\(dir)/i2fortran.npy")
        #expect(fortran.shape == [2, 3, 4] && Array(fortran) == (0..<24).map(Int16.init))
        #expect(fortran[[1, 2, 3]] == 23)
        #expect(Array(try NDArray<Int64>(npyFrom: "\(dir)/i8be.npy")) == [-1, 1 << 40, -(1 << 62)])
        let flags = try NDArray<UInt8>(npyFrom: "\(dir)/bool.npy")
        #expect(flags.shape == [2, 2] && Array(flags) == [1, 0, 0, 1])
        #expect(Array(try NDArray<UInt64>(npyFrom: "\(dir)/u8.npy")) == [0, .max])
        let scalar = try NDArray<Double>(npyFrom: "\(dir)/scalar.npy")
        #expect(scalar.shape == [] && Array(scalar) == [2.5])

        #expect(persistenceErrorCode { _ = try NDArray<Float>(npyFrom: "\(dir)/f8.npy") } == .typeMismatch)
        #expect(persistenceErrorCode { _ = try NDArray<Double>(npyFrom: "\(dir)/objects.npy") } == .unsupportedFeature)
        try dump([1.0], to: "\(dir)/ours.joblib")
        #expect(persistenceErrorCode { _ = try NDArray<Double>(npyFrom: "\(dir)/ours.joblib") } == .notOurFile)
        #expect(persistenceErrorCode { _ = try load([Double].self, from: "\(dir)/f8.npy") } == .notOurFile)
        #expect(persistenceErrorCode { _ = try NDArray<Double>(npyFrom: "\(dir)/missing.npy") } == .io)
    }

    /// Damaged .npy files give errors, never crashes.
    @Test func damagedNpyFilesAreRejected() throws {
        let scratch = try Scratch()
        let path = scratch.path("a.npy")
        try NDArray(shape: [4, 4], (0..<16).map(Double.init)).write(npyTo: path, durable: false)
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        for cut in [0, 3, 7, 9, 20, 60, 127, good.count - 1] {
            try good.prefix(cut).write(to: URL(fileURLWithPath: path))
            let code = persistenceErrorCode { _ = try NDArray<Double>(npyFrom: path) }
            #expect(code == .truncated || code == .corruptHeader || code == .notOurFile, "cut at \(cut): \(String(describing: code))")
        }
        let header = String(decoding: good.prefix(128), as: UTF8.self)
        for (from, to) in [("(4, 4)", "(4, -4)"), ("(4, 4)", "(9, 99)"), ("'<f8'", "'<c16'"), ("False", "Maybe"), ("'shape'", "'shapf'")] {
            var damaged = Data(header.replacingOccurrences(of: from, with: to).utf8)
            damaged.append(good.dropFirst(128))
            try damaged.write(to: URL(fileURLWithPath: path))
            #expect(persistenceErrorCode { _ = try NDArray<Double>(npyFrom: path) } != nil, "\(to)")
        }
    }
}
