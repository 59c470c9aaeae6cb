import Foundation
import JoblibPersistence
import JoblibTestSupport
import SystemPackage

/// A nested model with several arrays of different types and sizes (large ones become sections).
struct Layer: Codable, Equatable {
    var name: String
    var weights: NDArray<Double>
    var bias: [Float]
    var mask: NDArray<UInt8>
}

struct Model: Codable, Equatable {
    var version: Int
    var labels: [String: Int]
    var layers: [Layer]
    var history: [Double]
    var small: NDArray<Int32>
    var blob: Data
    var note: String?

    static func sample(seed: UInt64 = 1, scale: Int = 1) -> Model {
        var random = SeededGenerator(seed: seed)
        func doubles(_ n: Int) -> [Double] { (0..<n).map { _ in Double.random(in: -1...1, using: &random) } }
        let layers = (0..<3).map { index in
            Layer(
                name: "layer\(index)",
                weights: NDArray(shape: [16 * scale, 32], doubles(16 * scale * 32)),
                bias: (0..<(200 * scale)).map { _ in Float.random(in: 0...1, using: &random) },
                mask: NDArray(shape: [8, 128 * scale], (0..<(1024 * scale)).map { _ in UInt8.random(in: 0...1, using: &random) }))
        }
        return Model(
            version: 3, labels: ["cat": 0, "dog": 1], layers: layers, history: doubles(1000 * scale),
            small: NDArray(shape: [2, 2], [1, 2, 3, 4]),
            blob: Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31) }), note: nil)
    }
}

/// A fresh directory for one test, removed afterwards.
final class Scratch {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("jp-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// Every compression the format supports, at a fast level.
let allCompressions: [Compression] = [.none, .zlib(level: 1), .gzip(level: 1), .bz2(level: 1), .xz(level: 0), .lzma(level: 1), .lz4(level: 0), .lz4(level: 9), .zstd(level: 3)]

/// The error code a throwing body produced, or nil when it did not throw a PersistenceError.
func persistenceErrorCode(_ body: () throws -> Void) -> PersistenceError.Code? {
    do {
        try body()
        return nil
    } catch let error as PersistenceError {
        return error.code
    } catch {
        return PersistenceError.Code(rawValue: "unexpected \(type(of: error)): \(error)")
    }
}
