import JoblibCoding
import JoblibTestSupport
import Testing

/// The type-less reader that `joblib inspect` uses must see what the decoder sees.
@Suite struct EncodedValueReaderTests {
    private struct Sample: Codable {
        var name: String
        var count: Int32
        var weights: [Double]
        var tags: [String]
        var missing: Int?
    }

    /// Walks the value at `offset`, describing it as text: what an inspector would list.
    private func describe(_ reader: EncodedValueReader, at offset: Int, depth: Int = 0) throws -> (String, Int) {
        let (item, next) = try reader.item(at: offset, depth: depth)
        switch item {
        case .null: return ("nil", next)
        case .bool(let value): return ("\(value)", next)
        case .signed(let value, let type): return ("\(type.name) \(value)", next)
        case .unsigned(let value, let type): return ("\(type.name) \(value)", next)
        case .float16Bits(let bits): return ("float16 \(bits)", next)
        case .float32(let value): return ("float32 \(value)", next)
        case .float64(let value): return ("float64 \(value)", next)
        case .string(let text): return ("\"\(text)\"", next)
        case .inlineArray(let type, let count, let bytes): return ("\(type.name)[\(count)] \(bytes.count)B", next)
        case .sectionArray(let type, let count, let section): return ("\(type.name)[\(count)] @\(section)", next)
        case .container(var container):
            var parts: [String] = []
            while let entry = try reader.nextEntry(&container) {
                let (text, end) = try describe(reader, at: entry.value, depth: depth + 1)
                parts.append(entry.key.map { "\($0): \(text)" } ?? text)
                reader.entryEnded(&container, at: end)
            }
            return ((container.keyed ? "{" : "[") + parts.joined(separator: ", ") + (container.keyed ? "}" : "]"), container.end)
        }
    }

    @Test func walksEveryItemOfAValue() throws {
        let bytes = try BinaryEncoder().encode(Sample(name: "w", count: -3, weights: [1, 2], tags: ["a", "b"], missing: nil))
        let (text, end) = try bytes.withUnsafeBytes { try describe(EncodedValueReader(bytes: $0), at: 0) }
        #expect(text == #"{name: "w", count: int32 -3, weights: float64[2] 16B, tags: ["a", "b"]}"#)
        #expect(end == bytes.count)
    }

    @Test func malformedInputThrowsWhereTheDecoderThrows() throws {
        let bytes = try BinaryEncoder().encode(Sample(name: "weights", count: 1, weights: Array(repeating: 0.5, count: 40), tags: ["x"]))
        for length in 0..<bytes.count {
            let prefix = Array(bytes[..<length])
            let decoderFails = (try? BinaryDecoder().decode(Sample.self, from: prefix)) == nil
            let readerFails = (try? prefix.withUnsafeBytes { try describe(EncodedValueReader(bytes: $0), at: 0) }).map { $0.1 != length } ?? true
            #expect(decoderFails && readerFails, "prefix of \(length) bytes")
        }
        // Nesting deeper than decoding allows is refused, not recursed into.
        let deep = Array(repeating: Tag.unkeyed.rawValue, count: 1) + Array(repeating: [entryMarker, Tag.unkeyed.rawValue], count: 300).flatMap { $0 }
        #expect(throws: CodingError.self) { try deep.withUnsafeBytes { try describe(EncodedValueReader(bytes: $0), at: 0) } }
    }
}
