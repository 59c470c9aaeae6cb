import JoblibCoding
import Testing

private struct Sample: FixedLayoutValue, Equatable {
    var a: Int16
    var b: Double
    var c: Bool
}

@Suite struct FixedLayoutBlockTests {
    @Test func blocksRoundTripTheirElements() throws {
        let values = (0..<100).map { Sample(a: Int16($0), b: Double($0) / 3, c: $0 % 2 == 0) }
        for slice in [values[...], values[10..<11], values[0..<0]] {
            let block = FixedLayoutBlock.make(slice)
            #expect(block.count == 8 + slice.count * MemoryLayout<Sample>.stride)
            let decoded = try block.withUnsafeBytes { try FixedLayoutBlock.elements(of: Sample.self, in: $0) }
            #expect(decoded == Array(slice))
        }
        // Unaligned in memory, as a frame's body is.
        let shifted = [0] + FixedLayoutBlock.make([1.5, -2.25])
        let doubles = try shifted.withUnsafeBytes { try FixedLayoutBlock.elements(of: Double.self, in: UnsafeRawBufferPointer(rebasing: $0[1...])) }
        #expect(doubles == [1.5, -2.25])
    }

    @Test func aBlockOfAnotherTypeOrCutShortIsAnError() throws {
        let block = FixedLayoutBlock.make([Sample(a: 1, b: 2, c: true)])
        #expect(throws: CodingError.self) { try block.withUnsafeBytes { try FixedLayoutBlock.elements(of: Int32.self, in: $0) } }
        do {
            _ = try block.withUnsafeBytes { try FixedLayoutBlock.elements(of: Int32.self, in: $0) }
        } catch let error as CodingError {
            #expect(error.code == .typeMismatch)
            #expect(error.message.contains("not the same executable"))
        }
        let cut = Array(block.dropLast())
        #expect(throws: CodingError.self) { try cut.withUnsafeBytes { try FixedLayoutBlock.elements(of: Sample.self, in: $0) } }
        do {
            _ = try [UInt8](repeating: 0, count: 5).withUnsafeBytes { try FixedLayoutBlock.elements(of: Sample.self, in: $0) }
            Issue.record("a block shorter than its header was read")
        } catch let error as CodingError {
            #expect(error.code == .truncated)
        }
    }
}
