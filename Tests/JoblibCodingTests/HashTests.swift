import Foundation
import JoblibCoding
import JoblibTestSupport
import Testing

@Suite(.timeLimit(.minutes(1))) struct HashTests {
    @Test func dictionaryInsertionOrderDoesNotMatter() throws {
        var forward: [String: Int] = [:]
        var backward: [String: Int] = [:]
        for i in 0..<100 { forward["key\(i)"] = i }
        for i in (0..<100).reversed() { backward["key\(i)"] = i }
        #expect(try hash(forward) == hash(backward))
        #expect(try hash(["b": 2, "a": 1]) == hash(["a": 1, "b": 2]))
        #expect(try hash(Set([3, 1, 2])) == hash(Set([1, 2, 3])))
        // Also nested inside other values.
        struct Box: Codable { var table: [String: [Int: Double]] }
        #expect(try hash(Box(table: ["x": [1: 1, 2: 2]])) == hash(Box(table: ["x": [2: 2, 1: 1]])))
    }

    @Test func differentValuesDiffer() throws {
        #expect(try hash([1, 2]) != hash([2, 1]))
        #expect(try hash(Int32(1)) != hash(Int64(1)))
        #expect(try hash("a") != hash(["a"]))
        #expect(try hash([1.0]) != hash([Float(1.0)]))
        #expect(try hash(["a": 1]) != hash(["a": 2]))
        #expect(try hash([[1], [2, 3]]) != hash([[1, 2], [3]]))
        #expect(try hash("ab") != hash(["a", "b"]))
        #expect(try hash(Int?.none) != hash(0))
    }

    @Test func digestFormats() throws {
        let digest = try hashDigest("x")
        #expect(digest.hexString.count == 32)
        #expect(digest.hexString == (try hash("x")))
        #expect(digest.bytes.count == 16)
        #expect(digest.hexString.allSatisfy { $0.isHexDigit && !$0.isUppercase })
    }

    /// Pinned digests of scheme version 1, computed independently of this code: Python's
    /// `xxhash.xxh3_128_hexdigest` over the bytes that BinaryFormat.md describes. If one
    /// changes, every user's cache is invalidated: bump the scheme version instead.
    @Test func goldenDigests() throws {
        #expect(try hash(0) == "a9d7aef29b7e0a7d17b58459533caa95")
        #expect(try hash("joblib") == "7536881bacd7b8428d714eef2a24e142")
        #expect(try hash([1.5, 2.5]) == "be1909e59126a62047e5fc2385f8487f")
        #expect(try hash(["b": 2, "a": 1]) == "37c8439d057a0ea5e8c9089f0e261f82")
        #expect(try hash(Point(x: 1, y: 2)) == "9f0e20f665eb6973014ce4b15299f6d6")
    }

    @Test func sameDigestInAnotherProcess() throws {
        var dictionary: [String: Int] = [:]
        for i in 0..<100 { dictionary["key\(i)"] = i }
        let expected = [
            try hash(dictionary),
            try hash(Set((0..<50).map { "element\($0)" })),
            try hash([1: "a", 2: "b", 3: "c"]),
        ]
        let result = try TestSupport.run(TestSupport.helperExecutable, ["hash-samples"])
        #expect(result.status == 0)
        #expect(result.output.split(separator: "\n").map(String.init) == expected)
    }

    @Test func largeArraysHashTheirBytes() throws {
        let a = [Double](repeating: 1, count: 1 << 20)
        var b = a
        #expect(try hash(a) == hash(b))
        b[b.count - 1] = 2
        #expect(try hash(a) != hash(b))
    }
}
