import Foundation
import JoblibCoding
import Testing

/// The decoder finds keys lazily, reuses its decoders, and learns where values end from the
/// containers inside them; these tests read values in the orders and ways that stress that.
@Suite struct DecodingOrderTests {
    struct Record: Codable, Equatable { var id: Int; var name: String; var x: Double; var flag: Bool }

    /// Reads Record's keys in reverse order, and one twice.
    struct Reversed: Decodable, Equatable {
        var id: Int, name: String, x: Double, flag: Bool
        init(id: Int, name: String, x: Double, flag: Bool) { (self.id, self.name, self.x, self.flag) = (id, name, x, flag) }
        enum CodingKeys: String, CodingKey { case id, name, x, flag }
        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            flag = try container.decode(Bool.self, forKey: .flag)
            x = try container.decode(Double.self, forKey: .x)
            name = try container.decode(String.self, forKey: .name)
            id = try container.decode(Int.self, forKey: .id)
            #expect(try container.decode(Bool.self, forKey: .flag) == flag)
            #expect(container.allKeys.map(\.stringValue) == ["id", "name", "x", "flag"])
        }
    }

    @Test func keysInAnyOrder() throws {
        let records = (0..<50).map { Record(id: $0, name: "r\($0)", x: Double($0) / 4, flag: $0 % 3 == 0) }
        let bytes = try BinaryEncoder().encode(records)
        #expect(try BinaryDecoder().decode([Record].self, from: bytes) == records)
        let reversed = try BinaryDecoder().decode([Reversed].self, from: bytes)
        #expect(reversed == records.map { Reversed(id: $0.id, name: $0.name, x: $0.x, flag: $0.flag) })
    }

    @Test func optionalFieldsPresentAndAbsent() throws {
        struct Sparse: Codable, Equatable { var a: Int?; var b: [String]?; var c: Record?; var d: String }
        let values = [
            Sparse(a: nil, b: nil, c: nil, d: "none"),
            Sparse(a: 1, b: ["x"], c: Record(id: 1, name: "n", x: 1, flag: true), d: "all"),
            Sparse(a: nil, b: [], c: Record(id: 2, name: "", x: -1, flag: false), d: "some"),
        ]
        #expect(try BinaryDecoder().decode([Sparse].self, from: BinaryEncoder().encode(values)) == values)
    }

    @Test func largeDictionariesInAndOutOfOrder() throws {
        // 100k keys: stored order (via allKeys), and a custom order, must both stay linear-ish.
        var table: [String: Int] = [:]
        for i in 0..<100_000 { table["key\(i)"] = i }
        let bytes = try BinaryEncoder().encode(table)
        #expect(try BinaryDecoder().decode([String: Int].self, from: bytes) == table)

        struct Strided: Decodable {
            var sum = 0
            init(from decoder: any Decoder) throws {
                let container = try decoder.container(keyedBy: AnyKey.self)
                // Every 7th key by name: far from the previous hit in the stored (hash) order.
                let count = 100_000
                var index = 0
                for _ in 0..<count {
                    sum += try container.decode(Int.self, forKey: AnyKey(stringValue: "key\(index)"))
                    index = (index + 7) % count
                }
            }
        }
        #expect(try BinaryDecoder().decode(Strided.self, from: bytes).sum == (0..<100_000).reduce(0, +))
    }

    @Test func nestedRecordsAndArrays() throws {
        struct Inner: Codable, Equatable { var a: Int; var b: String; var c: [Double]; var d: [String] }
        struct Outer: Codable, Equatable { var id: Int; var inner: Inner; var list: [Inner]; var grid: [[Int]]; var last: Inner }
        let inner = Inner(a: 1, b: "b", c: [1, 2], d: ["x", "y"])
        let values = (0..<20).map {
            Outer(id: $0, inner: inner, list: Array(repeating: inner, count: $0 % 3), grid: [[$0], [], [1, 2, 3]], last: inner)
        }
        #expect(try BinaryDecoder().decode([Outer].self, from: BinaryEncoder().encode(values)) == values)
    }

    @Test func errorsNameTheirPathInsideArrays() throws {
        struct Wide: Codable { var a: Int; var b: [Point] }
        struct Narrow: Codable { var a: Int; var b: [Point]; var c: String }
        struct Holder<T: Codable>: Codable { var items: [T] }
        let bytes = try BinaryEncoder().encode(Holder(items: [Wide(a: 1, b: []), Wide(a: 2, b: [Point(x: 1, y: 2)])]))
        #expect { try BinaryDecoder().decode(Holder<Narrow>.self, from: bytes) } throws: { error in
            guard let error = error as? CodingError else { return false }
            return error.code == .keyNotFound && error.path == "items[0].c"
        }
        struct IntPoint: Codable { var x: Int; var y: Int }
        struct WrongB: Codable { var a: Int; var b: [IntPoint] }
        #expect { try BinaryDecoder().decode(Holder<WrongB>.self, from: bytes) } throws: { error in
            guard let error = error as? CodingError else { return false }
            return error.code == .typeMismatch && error.path == "items[1].b[0].x"
        }
    }

    @Test func codingPathSeenByInitFromDecoder() throws {
        final class Seen: @unchecked Sendable { var paths: [String] = [] }
        let seen = Seen()
        var decoder = BinaryDecoder()
        decoder.userInfo[CodingUserInfoKey(rawValue: "seen")!] = seen
        struct StringSource: Encodable { var probes = ["a"]; var nested = [["b"], ["c", "d"]] }
        struct StringProbe: Decodable {
            init(from decoder: any Decoder) throws {
                let seen = decoder.userInfo[CodingUserInfoKey(rawValue: "seen")!] as! Seen
                seen.paths.append(decoder.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: "/"))
                _ = try decoder.singleValueContainer().decode(String.self)
            }
        }
        struct StringHolder: Decodable { var probes: [StringProbe]; var nested: [[StringProbe]] }
        _ = try decoder.decode(StringHolder.self, from: BinaryEncoder().encode(StringSource()))
        #expect(seen.paths == ["probes/[0]", "nested/[0]/[0]", "nested/[1]/[0]", "nested/[1]/[1]"])
    }

    @Test func decodersKeptBeyondTheirValueStayTheirs() throws {
        // A value that keeps its decoder: the decoder must not be reused for later values.
        final class Keeper: Decodable, @unchecked Sendable {
            let decoder: any Decoder
            let value: String
            init(from decoder: any Decoder) throws {
                self.decoder = decoder
                value = try decoder.singleValueContainer().decode(String.self)
            }
        }
        let keepers = try BinaryDecoder().decode([Keeper].self, from: BinaryEncoder().encode(["a", "b", "c"]))
        #expect(keepers.map(\.value) == ["a", "b", "c"])
        // (Only the path: the input bytes themselves are gone once decode returns.)
        #expect(keepers.map { $0.decoder.codingPath.map(\.intValue) } == [[0], [1], [2]])
    }

    @Test func encodersKeptBeyondTheirValueStayTheirs() throws {
        final class Seen: @unchecked Sendable { var encoders: [any Encoder] = [] }
        struct Keeper: Encodable {
            var seen: Seen
            var value: Int
            func encode(to encoder: any Encoder) throws {
                seen.encoders.append(encoder)
                var container = encoder.singleValueContainer()
                try container.encode(value)
            }
        }
        let seen = Seen()
        let bytes = try BinaryEncoder().encode([Keeper(seen: seen, value: 1), Keeper(seen: seen, value: 2)])
        struct Ints: Decodable {
            var values: [Int] = []
            init(from decoder: any Decoder) throws {
                var container = try decoder.unkeyedContainer()
                while !container.isAtEnd { values.append(try container.decode(Int.self)) }
            }
        }
        #expect(try BinaryDecoder().decode(Ints.self, from: bytes).values == [1, 2])
        #expect(seen.encoders.map { $0.codingPath.map(\.intValue) } == [[0], [1]])
    }

    /// The bytes of a small record, pinned: the format must not change with the coder's speed.
    @Test func recordBytesArePinned() throws {
        let bytes = try BinaryEncoder().encode([Record(id: 1, name: "ab", x: 0.5, flag: true)])
        let expected: [UInt8] = [
            0x31, 0x01, 0x30,
            0x01, 0x02, 0x69, 0x64, 0x13, 1, 0, 0, 0, 0, 0, 0, 0,
            0x01, 0x04, 0x6E, 0x61, 0x6D, 0x65, 0x20, 0x02, 0x61, 0x62,
            0x01, 0x01, 0x78, 0x1A, 0, 0, 0, 0, 0, 0, 0xE0, 0x3F,
            0x01, 0x04, 0x66, 0x6C, 0x61, 0x67, 0x02,
            0x00, 0x00,
        ]
        #expect(bytes == expected)
    }
}

/// A key by any name, for decoding keys the type does not list.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
