import Foundation
import JoblibCoding
import Testing

/// Hashing reuses its states (`HashingStatePool`) and streams only what outgrows 64 KiB: neither
/// may change a digest, whatever ran before on the same state.
@Suite struct HashReuseTests {
    /// Writes a field, then throws: the state it leaves behind is mid-value.
    struct FailsHalfway: Encodable {
        struct Refused: Error {}
        enum CodingKeys: String, CodingKey { case first, second }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(String(repeating: "x", count: 300), forKey: .first)
            throw Refused()
        }
    }

    @Test func aHashThatThrewLeavesLaterDigestsUnchanged() throws {
        for _ in 0..<3 {
            #expect(throws: FailsHalfway.Refused.self) { try hash(FailsHalfway()) }
            #expect(try hash("joblib") == "7536881bacd7b8428d714eef2a24e142")
            #expect(try hash(0) == "a9d7aef29b7e0a7d17b58459533caa95")
        }
    }

    /// Values that are streamed (over 64 KiB, not one bulk array) and values hashed in one call
    /// alternate on the same states; each keeps its digest.
    @Test func streamedAndOneCallHashesAlternate() throws {
        let large = (0..<20_000).map { "element \($0)" }
        let first = try hash(large)
        for _ in 0..<3 {
            #expect(try hash([1.5, 2.5]) == "be1909e59126a62047e5fc2385f8487f")
            #expect(try hash(large) == first)
        }
        var changed = large
        changed[19_999] = "other"
        #expect(try hash(changed) != first)
    }

    @Test func concurrentHashesAgree() async throws {
        let values = (0..<64).map { ["key": $0, "other": $0 * 7] }
        let expected = try values.map { try hash($0) }
        let results = try await withThrowingTaskGroup(of: [String].self) { group in
            for _ in 0..<8 {
                group.addTask { try values.map { try hash($0) } }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 8)
        #expect(results.allSatisfy { $0 == expected })
    }
}
