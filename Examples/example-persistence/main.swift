// Saving a model with big arrays, compressed or mappable, and loading it back.
import Foundation
import Joblib

/// Any `Codable` value can be saved; its numeric arrays are stored raw, aligned and checksummed.
struct Model: Codable, Equatable {
    var name: String
    var classes: [String]
    var weights: NDArray<Float>
    var bias: [Float]
}

let directory = FileManager.default.temporaryDirectory.appendingPathComponent("example-persistence-\(getpid())")
try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: directory) }

let model = Model(
    name: "digits", classes: (0..<10).map(String.init),
    weights: NDArray(shape: [784, 10], (0..<7_840).map { Float($0 % 97) / 97 }),
    bias: [Float](repeating: 0.1, count: 10))

// Uncompressed: the weights can be memory-mapped when loading (O(1), whatever their size).
let raw = directory.appendingPathComponent("model.joblib").path
try dump(model, to: raw)
let mapped = try load(Model.self, from: raw, mapping: .readOnly)
print("raw:  \(try FileManager.default.attributesOfItem(atPath: raw)[.size]!) bytes, weights \(mapped.weights.shape)")

// Compressed with zstd (also chosen from a `.zst` extension); loaded into memory.
let packed = directory.appendingPathComponent("model.joblib.zst").path
try dump(model, to: packed, compression: .zstd(level: 3))
let unpacked = try load(Model.self, from: packed)
print("zstd: \(try FileManager.default.attributesOfItem(atPath: packed)[.size]!) bytes")
precondition(mapped == model && unpacked == model, "a loaded model differs from the saved one")

// Loading checks before it trusts: the wrong type, or a damaged file, is a clear error.
do {
    _ = try load([String].self, from: raw)
} catch let error as PersistenceError {
    print("loading as the wrong type: \(error.code)")
}

// numpy can read what `write(npyTo:)` writes.
let npy = directory.appendingPathComponent("weights.npy").path
try model.weights.write(npyTo: npy)
print("weights.npy: shape \(try NDArray<Float>(npyFrom: npy).shape)")
