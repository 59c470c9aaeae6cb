import Foundation
import JoblibPersistence
import Testing

/// `load(_:fromBorrowed:)`, the cache's hit path, decodes what `load(_:from: Data)` decodes and
/// fails the same way.
@Suite struct BorrowedLoadTests {
    let value = ["a": [1.5, 2.5], "b": [-3.0]]

    @Test func uncompressedAndCompressedContainersDecodeLikeData() throws {
        for compression: Compression in [.none, .zlib()] {
            let bytes = try dump(value, compression: compression)
            let loaded = try bytes.withUnsafeBytes { try load([String: [Double]].self, fromBorrowed: $0) }
            #expect(loaded == value)
            #expect(loaded == (try load([String: [Double]].self, from: bytes)))
        }
    }

    @Test func damagedOrForeignBytesThrowTheSameCodes() throws {
        let good = [UInt8](try dump(value))
        let cases: [[UInt8]] = [
            [],                                    // empty
            Array(good.prefix(5)),                 // inside the signature
            Array(good.prefix(good.count / 2)),    // signature intact, body cut
            Array(good.prefix(8)) + [UInt8](repeating: 0xEE, count: 64),  // signature, then garbage
            [0x80, 0x04, 0x95, 0x00],              // a Python pickle
        ]
        for bytes in cases {
            let expected = errorCode { _ = try load([String: [Double]].self, from: Data(bytes)) }
            let borrowed = errorCode { _ = try bytes.withUnsafeBytes { try load([String: [Double]].self, fromBorrowed: $0) } }
            #expect(expected != nil, "bytes \(bytes.prefix(8)) should not load")
            #expect(borrowed == expected, "bytes \(bytes.prefix(8)): borrowed \(String(describing: borrowed)), data \(String(describing: expected))")
        }
    }

    private func errorCode(_ body: () throws -> Void) -> PersistenceError.Code? {
        do {
            try body()
            return nil
        } catch let error as PersistenceError {
            return error.code
        } catch {
            Issue.record("not a PersistenceError: \(error)")
            return nil
        }
    }
}
