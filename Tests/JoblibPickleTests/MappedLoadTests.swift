import Foundation
import JoblibPersistence
import JoblibPickle
import Testing

/// Resident memory of this process, from /proc/self/statm (pages × page size).
private func residentBytes() throws -> Int {
    let fields = try String(contentsOfFile: "/proc/self/statm", encoding: .utf8).split(separator: " ")
    return Int(fields[1])! * Int(sysconf(Int32(_SC_PAGESIZE)))
}

@Suite(.timeLimit(.minutes(2))) struct MappedLoadTests {
    /// A 100 MB uncompressed array written by Python's joblib loads mapped in O(1): the array's
    /// pages are not touched (resident memory does not grow by its size) and it takes well under
    /// the time a read would.
    @Test func hundredMegabytesLoadMappedWithoutTouchingPages() throws {
        let directory = try TemporaryDirectory()
        try PythonScript.run(["big", directory.url.path, "100"])
        let path = directory.path("big.joblib")
        let before = try residentBytes()
        let clock = ContinuousClock()
        let start = clock.now
        let array = try load(NDArray<Double>.self, from: path, mapping: .readOnly)
        let elapsed = clock.now - start
        let grown = try residentBytes() - before
        #expect(array.isMemoryMapped && array.count == 100 * 131_072)
        #expect(grown < 8 << 20, "resident memory grew by \(grown) bytes: the array's pages were touched")
        #expect(elapsed < .milliseconds(50), "a mapped load took \(elapsed)")
        #expect(array[0] == 0 && array[12_345_678] == 12_345_678 && array[array.count - 1] == Double(array.count - 1))

        // Read without mapping, the same values; the whole array in memory.
        let read = try load(NDArray<Double>.self, from: path)
        #expect(!read.isMemoryMapped && read.count == array.count && read[777] == 777)

        // The dynamic view maps too.
        let tree = try load(PythonValue.self, from: path, mapping: .readOnly)
        if case .array(let numpy) = tree { #expect(numpy.isMemoryMapped) } else { Issue.record("not an array: \(tree.typeName)") }
    }

    /// Mapping modes on a Python joblib file: read-only copies on write, copy-on-write keeps
    /// changes private, read-write changes the file.
    @Test func mappingModes() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("modes.joblib")
        try dump(["a": NDArray((0..<1000).map(Double.init))], to: path, format: .pythonJoblib, durable: false)
        var readOnly = try load([String: NDArray<Double>].self, from: path, mapping: .readOnly)["a"]!
        #expect(readOnly.isMemoryMapped)
        readOnly[0] = 7
        #expect(!readOnly.isMemoryMapped && readOnly[0] == 7)
        var private_ = try load([String: NDArray<Double>].self, from: path, mapping: .copyOnWrite)["a"]!
        private_[1] = 8
        #expect(private_.isMemoryMapped && private_[1] == 8)
        #expect(try load([String: NDArray<Double>].self, from: path)["a"]![1] == 1)
        var shared = try load([String: NDArray<Double>].self, from: path, mapping: .readWrite)["a"]!
        shared[2] = 9
        #expect(shared.isMemoryMapped)
        #expect(try load([String: NDArray<Double>].self, from: path)["a"]![2] == 9)
    }

    /// A compressed Python file cannot be mapped: it is decompressed, with one warning.
    @Test func compressedFilesWarnWhenMapped() throws {
        let directory = try TemporaryDirectory()
        try PythonScript.run(["sklearn", directory.url.path])
        var warnings: [String] = []
        _ = try load(PythonValue.self, from: directory.path("model.joblib"), mapping: .readOnly) { warnings.append($0) }
        #expect(warnings.count == 1 && warnings[0].contains("compressed"))
    }
}
