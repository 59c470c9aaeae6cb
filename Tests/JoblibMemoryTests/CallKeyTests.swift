import JoblibCoding
@testable import JoblibMemory
import Testing

/// `CallKey` encodes `Int`, `Double`, `String` and `Bool` arguments through the container's own
/// methods (the hit path's hash); the keys must be exactly those of the generic path, or every
/// existing cache entry would be missed.
@Suite("Memory: call keys")
struct CallKeyTests {
    /// The key as it was computed before the scalar shortcut: every argument through the generic
    /// `encode(_:)`.
    struct GenericKey: Encodable {
        var function: String
        var version: Int
        var arguments: [any Encodable]

        func encode(to encoder: any Encoder) throws {
            var container = encoder.unkeyedContainer()
            try container.encode(function)
            try container.encode(version)
            for argument in arguments { try container.encode(argument) }
        }
    }

    struct Point: Codable { var x: Int; var label: String }

    static var argumentLists: [[any Encodable]] {
        [
            [], [0], [-7, 3.5], ["", "é🙂"], [true, false], [Int?.some(4), Int?.none, String?.some("s")],
            [Int8(3), UInt64.max, Float(1.5)], [[1, 2, 3], [0.5]], [Point(x: 1, label: "a"), 2, "b"],
            [Int.min, Double.nan, Double.infinity, -0.0],
        ]
    }

    @Test(arguments: 0..<10)
    func scalarArgumentsHashAsThroughTheGenericPath(index: Int) throws {
        #expect(Self.argumentLists.count == 10)
        let arguments = Self.argumentLists[index]
        let fast = try hashDigest(CallKey(function: "f", version: 2, arguments: arguments, ignoredFields: [], seenFields: nil))
        let generic = try hashDigest(GenericKey(function: "f", version: 2, arguments: arguments))
        #expect(fast == generic)
    }

    @Test func distinctScalarsGiveDistinctKeys() throws {
        func key(_ arguments: [any Encodable]) throws -> HashDigest {
            try hashDigest(CallKey(function: "f", version: 1, arguments: arguments, ignoredFields: [], seenFields: nil))
        }
        let keys = try [key([1]), key([2]), key([1.0]), key(["1"]), key([true]), key([1, 1])]
        #expect(Set(keys.map(\.hexString)).count == keys.count)
    }

    /// The hit path hashes lists of `Int`, `Double`, `String` and `Bool` without an encoder
    /// (`hashDigestOfScalarList`): the digest must be the `CallKey`'s, and other lists are refused.
    @Test(arguments: 0..<10)
    func scalarListsHashAsTheCallKey(index: Int) throws {
        let arguments = Self.argumentLists[index]
        let scalarsOnly = arguments.allSatisfy { $0 is Int || $0 is Double || $0 is String || $0 is Bool }
        let direct = hashDigestOfScalarList("f", 2, arguments)
        #expect((direct != nil) == scalarsOnly)
        if let direct {
            #expect(direct == (try hashDigest(CallKey(function: "f", version: 2, arguments: arguments, ignoredFields: [], seenFields: nil))))
        }
    }

    @Test func scalarListsWithLongNamesAndStringsHashAsTheCallKey() throws {
        // Longer than the hashing state's staged writes (256 bytes) and its stage (1 KiB).
        let name = String(repeating: "n", count: 3_000)
        let arguments: [any Encodable] = [String(repeating: "s", count: 70_000), -1, 2.5, true, "", Int.max]
        let direct = try #require(hashDigestOfScalarList(name, -3, arguments))
        #expect(direct == (try hashDigest(GenericKey(function: name, version: -3, arguments: arguments))))
    }

    @Test func scalarListsWithStringsOfManyLengthsHashAsTheCallKey() throws {
        // Around the hashing state's staged writes and varint length boundaries.
        for length in stride(from: 440, through: 520, by: 3) {
            let arguments: [any Encodable] = [String(repeating: "é", count: length / 2), 7, false]
            let direct = try #require(hashDigestOfScalarList("g", 1, arguments))
            #expect(direct == (try hashDigest(GenericKey(function: "g", version: 1, arguments: arguments))))
        }
    }
}
