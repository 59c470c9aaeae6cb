import Foundation
import JoblibCoding
import Testing

/// The coders hand one keyed container to value after value of a type (`KeyedContainerCache`):
/// the bytes must be those of a fresh container per value, a value of the same type nested
/// inside another gets its own, and a container kept past its value cannot write or read
/// quietly.
@Suite struct KeptContainerTests {
    struct Record: Codable, Equatable { var id: Int; var name: String; var x: Double; var flag: Bool }

    /// The bytes of `values` as an array, built from each value encoded on its own (where every
    /// container is fresh): `31`, then `01` and the value per element, then `00`.
    func arrayBytes<T: Encodable>(_ values: [T]) throws -> [UInt8] {
        var bytes: [UInt8] = [0x31]
        for value in values { bytes += [0x01] + (try BinaryEncoder().encode(value)) }
        return bytes + [0x00]
    }

    @Test func recordsEncodeAsEachOnItsOwn() throws {
        let records = (0..<50).map { Record(id: $0, name: "record \($0)", x: Double($0) / 4, flag: $0 % 3 == 0) }
        let bytes = try BinaryEncoder().encode(records)
        #expect(bytes == (try arrayBytes(records)))
        #expect(try BinaryDecoder().decode([Record].self, from: bytes) == records)
    }

    /// A tree: a node's container is in use while its children (same type) are coded.
    struct Node: Codable, Equatable {
        var value: Int
        var children: [Node]
        static func tree(depth: Int, start: Int = 0) -> Node {
            Node(value: start, children: depth == 0 ? [] : (1...3).map { tree(depth: depth - 1, start: start * 10 + $0) })
        }
    }

    @Test func nestedValuesOfOneTypeGetTheirOwnContainers() throws {
        let trees = [Node.tree(depth: 3), Node.tree(depth: 0, start: 7), Node.tree(depth: 2, start: 5)]
        let bytes = try BinaryEncoder().encode(trees)
        #expect(bytes == (try arrayBytes(trees)))
        #expect(try BinaryDecoder().decode([Node].self, from: bytes) == trees)
    }

    /// More key types than are kept (four), interleaved.
    struct A: Codable, Equatable { var a: Int }
    struct B: Codable, Equatable { var b: String }
    struct C: Codable, Equatable { var c: Double }
    struct D: Codable, Equatable { var d: Bool }
    struct E: Codable, Equatable { var e: [Int] }
    struct Mixed: Codable, Equatable { var a: A; var b: B; var c: C; var d: D; var e: E; var again: A }

    @Test func manyKeyTypesInterleaved() throws {
        let values = (0..<20).map {
            Mixed(a: A(a: $0), b: B(b: "\($0)"), c: C(c: Double($0)), d: D(d: $0 % 2 == 0), e: E(e: [$0, $0]), again: A(a: -$0))
        }
        let bytes = try BinaryEncoder().encode(values)
        #expect(bytes == (try arrayBytes(values)))
        #expect(try BinaryDecoder().decode([Mixed].self, from: bytes) == values)
        // Hashing reuses its states from run to run: the digest of a value stays the same.
        let digest = try hash(values)
        for _ in 0..<3 { #expect(try hash(values) == digest) }
    }

    /// A class hierarchy: the subclass asks for a second keyed container on the same encoder,
    /// and the superclass codes through `superEncoder()`.
    class Base: Codable, Equatable {
        var base: Int
        init(base: Int) { self.base = base }
        static func == (lhs: Base, rhs: Base) -> Bool { lhs.base == rhs.base && type(of: lhs) == type(of: rhs) }
    }

    final class SameEncoder: Base {
        var extra: String
        enum Keys: String, CodingKey { case extra }
        init(base: Int, extra: String) {
            self.extra = extra
            super.init(base: base)
        }
        required init(from decoder: any Decoder) throws {
            extra = try decoder.container(keyedBy: Keys.self).decode(String.self, forKey: .extra)
            try super.init(from: decoder)
        }
        override func encode(to encoder: any Encoder) throws {
            try super.encode(to: encoder)
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(extra, forKey: .extra)
        }
    }

    final class ViaSuper: Base {
        var extra: Double
        enum Keys: String, CodingKey { case extra }
        init(base: Int, extra: Double) {
            self.extra = extra
            super.init(base: base)
        }
        required init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Keys.self)
            extra = try container.decode(Double.self, forKey: .extra)
            try super.init(from: container.superDecoder())
        }
        override func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(extra, forKey: .extra)
            try super.encode(to: container.superEncoder())
        }
    }

    @Test func classHierarchies() throws {
        let same = (0..<10).map { SameEncoder(base: $0, extra: "x\($0)") }
        let sameBytes = try BinaryEncoder().encode(same)
        #expect(sameBytes == (try arrayBytes(same)))
        let sameBack = try BinaryDecoder().decode([SameEncoder].self, from: sameBytes)
        #expect(sameBack.map(\.base) == same.map(\.base) && sameBack.map(\.extra) == same.map(\.extra))

        let viaSuper = (0..<10).map { ViaSuper(base: $0, extra: Double($0) / 2) }
        let superBytes = try BinaryEncoder().encode(viaSuper)
        #expect(superBytes == (try arrayBytes(viaSuper)))
        let superBack = try BinaryDecoder().decode([ViaSuper].self, from: superBytes)
        #expect(superBack.map(\.base) == viaSuper.map(\.base) && superBack.map(\.extra) == viaSuper.map(\.extra))
    }

    // MARK: Containers kept past their value

    final class Stash: @unchecked Sendable {
        var encoding: KeyedEncodingContainer<Leaker.Keys>?
        var decoding: KeyedDecodingContainer<Leaker.Keys>?
    }

    /// Keeps its keyed container after its value is coded, which the `Codable` contract forbids.
    struct Leaker: Codable {
        enum Keys: String, CodingKey { case value }
        var value: Int
        var stash: Stash?
        init(value: Int, stash: Stash) {
            self.value = value
            self.stash = stash
        }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(value, forKey: .value)
            stash?.encoding = container
        }
        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Keys.self)
            value = try container.decode(Int.self, forKey: .value)
            (decoder.userInfo[stashKey] as? Stash)?.decoding = container
        }
    }

    /// Writes through the container a `Leaker` before it kept.
    struct WritesThroughStash: Encodable {
        var stash: Stash
        func encode(to encoder: any Encoder) throws {
            try stash.encoding?.encode(99, forKey: .value)
            var container = encoder.singleValueContainer()
            try container.encode(0)
        }
    }

    struct Leakers: Encodable {
        var leakers: [Leaker]
        var writer: WritesThroughStash
    }

    @Test func aKeyedEncodingContainerKeptPastItsValueThrows() throws {
        let stash = Stash()
        let leakers = (0..<3).map { Leaker(value: $0, stash: stash) }
        // Three leakers: the second and third use the kept container.
        #expect {
            try BinaryEncoder().encode(Leakers(leakers: leakers, writer: WritesThroughStash(stash: stash)))
        } throws: { ($0 as? CodingError)?.code == .invalidEncoding }
        // After the run too.
        #expect { try stash.encoding?.encode(1, forKey: .value) } throws: { ($0 as? CodingError)?.code == .invalidEncoding }
    }

    @Test func aKeyedDecodingContainerKeptPastItsValueThrows() throws {
        let stash = Stash()
        var decoder = BinaryDecoder()
        decoder.userInfo[stashKey] = stash
        let bytes = try BinaryEncoder().encode((0..<3).map { Leaker(value: $0, stash: stash) })
        #expect(try decoder.decode([Leaker].self, from: bytes).map(\.value) == [0, 1, 2])
        let kept = try #require(stash.decoding)
        #expect { try kept.decode(Int.self, forKey: .value) } throws: { ($0 as? CodingError)?.code == .invalidEncoding }
        #expect(!kept.contains(.value))
    }

    // MARK: The element cursor

    @Test func elementsDecodeOneByOneAndAFailureStaysWithItsElement() throws {
        struct Loose: Encodable { var id: Int; var name: String; var x: Double; var flag: Bool? }
        let values = [
            Loose(id: 1, name: "a", x: 1, flag: true), Loose(id: 2, name: "b", x: 2, flag: nil),
            Loose(id: 3, name: "c", x: 3, flag: false),
        ]
        let bytes = try BinaryEncoder().encode(values)
        var decoded: [Int] = []
        var failed: [Int] = []
        try bytes.withUnsafeBytes { buffer in
            try BinaryDecoder().withElements(in: buffer, sections: nil) { elements in
                while try elements.next() {
                    do { decoded.append(try elements.decode(Record.self).id) } catch { failed.append(elements.index) }
                }
            }
        }
        #expect(decoded == [1, 3])
        #expect(failed == [1])
    }

    @Test func elementsOfABulkArray() throws {
        let bytes = try BinaryEncoder().encode([5, 6, 7])
        let decoded = try bytes.withUnsafeBytes { buffer in
            try BinaryDecoder().withElements(in: buffer, sections: nil) { elements in
                var values: [Int] = []
                while try elements.next() { values.append(try elements.decode(Int.self)) }
                return values
            }
        }
        #expect(decoded == [5, 6, 7])
    }

    @Test func elementsOfWhatIsNotAnArrayThrow() throws {
        for bytes in [try BinaryEncoder().encode(Record(id: 1, name: "", x: 0, flag: true)), try BinaryEncoder().encode([1]) + [0]] {
            #expect(throws: CodingError.self) {
                try bytes.withUnsafeBytes { buffer in
                    try BinaryDecoder().withElements(in: buffer, sections: nil) { _ in }
                }
            }
        }
    }
}

private let stashKey = CodingUserInfoKey(rawValue: "stash")!
