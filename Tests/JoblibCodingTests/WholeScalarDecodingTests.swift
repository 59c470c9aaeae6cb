import JoblibCoding
import Testing

/// `BinaryDecoder` reads an input that is one `Int`, `Double` or `Bool` without a decoding state
/// (a cache hit of a small function); values and errors must be those of the general path.
@Suite struct WholeScalarDecodingTests {
    @Test func scalarsRoundTrip() throws {
        for value in [0, 1, -1, Int.min, Int.max, 123_456_789] {
            #expect(try BinaryDecoder().decode(Int.self, from: try BinaryEncoder().encode(value)) == value)
        }
        for value in [0.0, -0.0, 1.5, -.infinity, .infinity, .leastNonzeroMagnitude, .greatestFiniteMagnitude] {
            let decoded = try BinaryDecoder().decode(Double.self, from: try BinaryEncoder().encode(value))
            #expect(decoded.bitPattern == value.bitPattern)
        }
        #expect(try BinaryDecoder().decode(Double.self, from: try BinaryEncoder().encode(Double.nan)).isNaN)
        for value in [true, false] {
            #expect(try BinaryDecoder().decode(Bool.self, from: try BinaryEncoder().encode(value)) == value)
        }
    }

    private func code<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) -> CodingError.Code? {
        do {
            _ = try BinaryDecoder().decode(type, from: bytes)
            return nil
        } catch {
            return (error as? CodingError)?.code
        }
    }

    @Test func malformedScalarsThrowAsBefore() {
        let int = [UInt8](repeating: 0, count: 8)
        #expect(code(Int.self, [0x13] + int.prefix(7)) == .truncated)
        #expect(code(Int.self, [0x13] + int + [0]) == .trailingBytes)
        #expect(code(Int.self, [0x1A] + int) == .typeMismatch)  // a Double where an Int is expected
        #expect(code(Int.self, [0x12, 0, 0, 0, 0]) == .typeMismatch)  // an Int32
        #expect(code(Int.self, [0xEE] + int) == .invalidTag)
        #expect(code(Double.self, [0x13] + int) == .typeMismatch)
        #expect(code(Double.self, [0x1A] + int.prefix(3)) == .truncated)
        #expect(code(Bool.self, [0x03]) == .invalidTag)
        #expect(code(Bool.self, [0x13] + int) == .typeMismatch)
        #expect(code(Bool.self, [0x02, 0x02]) == .trailingBytes)
        #expect(code(Bool.self, []) == .truncated)
        #expect(code(Int.self, []) == .truncated)
    }
}
