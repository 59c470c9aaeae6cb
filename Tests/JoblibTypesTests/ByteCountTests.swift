import Foundation
import JoblibTypes
import Testing

@Suite struct ByteCountTests {
    @Test func units() throws {
        #expect(ByteCount.megabytes(1).bytes == 1_048_576)
        #expect(ByteCount.gigabytes(10) > .megabytes(10_000))
        #expect(ByteCount.kilobytes(3).description == "3.0 KiB")
        #expect(ByteCount(bytes: 12).description == "12 B")
        // A negative count is zero bytes, not a trap: counts are computed and read from configuration.
        #expect(ByteCount(bytes: -1).bytes == 0)
        #expect(ByteCount.megabytes(-3) == .bytes(0))
        var count = ByteCount.kilobytes(1)
        count.bytes -= 4096
        #expect(count.bytes == 0)
        let decoded = try JSONDecoder().decode(ByteCount.self, from: Data(#"{"bytes":-7}"#.utf8))
        #expect(decoded.bytes == 0)
        #expect(try JSONDecoder().decode(ByteCount.self, from: JSONEncoder().encode(ByteCount.megabytes(2))) == .megabytes(2))
    }
}
