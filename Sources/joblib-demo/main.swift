// The README's main job. Until Parallel, Memory and persistence land, it exercises what exists:
// the CPU count, the binary coder and the content hash on a small synthetic model.
import Foundation
import Joblib

struct Model: Codable, Equatable {
    var name: String
    var weights: [Double]
    var vocabulary: [String: Int]
}

let clock = ContinuousClock()
print("swift-joblib demo")
print("  usable CPUs: \(cpuCount())")

let model = Model(
    name: "demo",
    weights: (0..<5_000_000).map { sin(Double($0)) },
    vocabulary: Dictionary(uniqueKeysWithValues: (0..<10_000).map { ("word\($0)", $0) }))

var bytes: [UInt8] = []
let encodeTime = try clock.measure { bytes = try BinaryEncoder().encode(model) }
var decoded: Model?
let decodeTime = try clock.measure { decoded = try BinaryDecoder().decode(Model.self, from: bytes) }
precondition(decoded == model, "the decoded model differs from the original")
print("  encoded \(ByteCount(bytes: bytes.count)) in \(encodeTime), decoded in \(decodeTime)")

var digest = ""
let hashTime = try clock.measure { digest = try hash(model) }
var reordered = model
reordered.vocabulary = Dictionary(uniqueKeysWithValues: model.vocabulary.sorted { $0.key > $1.key })
print("  content hash \(digest) in \(hashTime)")
print("  same hash for the vocabulary built in another order: \(try hash(reordered) == digest)")
