import Foundation
import JoblibCoding
import JoblibTestSupport
import Testing

@Suite struct MalformedInputTests {
    @Test func truncationAtEveryByteThrows() throws {
        let model = sampleModel()
        let bytes = try BinaryEncoder().encode(model)
        // Every strict prefix must fail cleanly, never crash or succeed.
        for length in 0..<bytes.count {
            let prefix = Array(bytes[..<length])
            #expect(throws: CodingError.self) { try BinaryDecoder().decode(Model.self, from: prefix) }
        }
    }

    @Test func truncationIsReportedAsTruncated() throws {
        let bytes = try BinaryEncoder().encode(["1", "2", "3"])
        do {
            _ = try BinaryDecoder().decode([String].self, from: Array(bytes.dropLast()))
            Issue.record("decoding a truncated value succeeded")
        } catch let error as CodingError {
            #expect(error.code == .truncated)
        }
    }

    @Test func trailingBytesAreAnError() throws {
        let bytes = try BinaryEncoder().encode(42) + [0]
        #expect { try BinaryDecoder().decode(Int.self, from: bytes) } throws: { error in
            (error as? CodingError)?.code == .trailingBytes
        }
    }

    @Test func mistypedInputNamesTheTypes() throws {
        let bytes = try BinaryEncoder().encode("hello")
        #expect { try BinaryDecoder().decode(Int.self, from: bytes) } throws: { error in
            guard let error = error as? CodingError else { return false }
            return error.code == .typeMismatch && error.message.contains("String")
        }
        #expect { try BinaryDecoder().decode(Int32.self, from: try BinaryEncoder().encode(Int64(1))) } throws: { error in
            (error as? CodingError)?.code == .typeMismatch
        }
    }

    @Test func missingKeyNamesThePath() throws {
        struct Wide: Codable { var a: Int; var b: Point }
        struct Narrow: Codable { var a: Int; var b: Point; var c: String }
        let bytes = try BinaryEncoder().encode(Wide(a: 1, b: Point(x: 0, y: 0)))
        #expect { try BinaryDecoder().decode(Narrow.self, from: bytes) } throws: { error in
            guard let error = error as? CodingError else { return false }
            return error.code == .keyNotFound && error.path == "c"
        }
    }

    @Test func hugeDeclaredLengthsThrowWithoutAllocating() throws {
        // A string claiming 2^62 bytes, and bulk arrays claiming 2^60 doubles.
        var string: [UInt8] = [0x20]
        var length: UInt64 = 1 << 62
        while length >= 0x80 { string.append(UInt8(truncatingIfNeeded: length) | 0x80); length >>= 7 }
        string.append(UInt8(length))
        #expect { try BinaryDecoder().decode(String.self, from: string) } throws: { error in
            (error as? CodingError)?.code == .lengthExceedsInput
        }
        let bulk: [UInt8] = [0x40, 0x1A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 1, 2, 3]
        #expect { try BinaryDecoder().decode([Double].self, from: bulk) } throws: { error in
            (error as? CodingError)?.code == .lengthExceedsInput
        }
        // A varint that never ends, and one too long for 64 bits.
        #expect(throws: CodingError.self) { try BinaryDecoder().decode(String.self, from: [0x20] + [UInt8](repeating: 0xFF, count: 20)) }
    }

    @Test func deepNestingIsBounded() throws {
        // 100,000 nested unkeyed containers would overflow the stack if followed naively.
        let bytes = [UInt8](repeating: 0x31, count: 1) + [UInt8](repeating: 0x01, count: 1)
        var hostile: [UInt8] = []
        for _ in 0..<100_000 { hostile += bytes }
        #expect { try BinaryDecoder().decode([[[[Int]]]].self, from: hostile) } throws: { error in
            (error as? CodingError)?.code == .nestingTooDeep
        }
    }

    /// Decodes `type` from `bytes`: success, a `CodingError` (the input is not a valid value) or
    /// a `DecodingError` (the type's own `init(from:)` refused what it read) are the only outcomes;
    /// anything else is recorded. Returns the code of a `CodingError`.
    @discardableResult
    private func decodeExpectingOnlyDecodingErrors<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) -> CodingError.Code? {
        do {
            _ = try BinaryDecoder().decode(type, from: bytes)
        } catch let error as CodingError {
            return error.code
        } catch is DecodingError {
        } catch {
            Issue.record("decoding \(type) from \(bytes) threw \(Swift.type(of: error)): \(error)")
        }
        return nil
    }

    @Test func randomBytesNeverCrash() throws {
        var generator = SeededGenerator(seed: 0x5EED)
        var codes: Set<CodingError.Code> = []
        for _ in 0..<5_000 {
            let count = Int.random(in: 0..<64, using: &generator)
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            for code in [
                decodeExpectingOnlyDecodingErrors(Model.self, bytes),
                decodeExpectingOnlyDecodingErrors([String: [Double]].self, bytes),
                decodeExpectingOnlyDecodingErrors(Shape.self, bytes),
            ] {
                if let code { codes.insert(code) }
            }
        }
        // Random bytes are mostly not values at all: the decoder says so with its own codes.
        #expect(codes.isSuperset(of: [.truncated, .invalidTag]), "codes seen: \(codes)")
    }

    @Test func bitFlipsNeverCrash() throws {
        let bytes = try BinaryEncoder().encode(sampleModel())
        var generator = SeededGenerator(seed: 42)
        var failures = 0
        for _ in 0..<3_000 {
            var corrupt = bytes
            let index = Int.random(in: 0..<corrupt.count, using: &generator)
            corrupt[index] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &generator)
            if decodeExpectingOnlyDecodingErrors(Model.self, corrupt) != nil { failures += 1 }
        }
        #expect(failures > 0, "no bit flip was noticed")
    }

    @Test func invalidUTF8IsAnError() throws {
        let bytes: [UInt8] = [0x20, 0x02, 0xC3, 0x28]
        #expect { try BinaryDecoder().decode(String.self, from: bytes) } throws: { error in
            (error as? CodingError)?.code == .invalidUTF8
        }
    }
}
