import Foundation
import JoblibCoding
import Testing

private func roundTrip<T: Codable & Equatable>(_ value: T) throws -> T {
    let bytes = try BinaryEncoder().encode(value)
    return try BinaryDecoder().decode(T.self, from: bytes)
}

@Suite struct RoundTripTests {
    @Test func nestedModel() throws {
        let model = sampleModel()
        #expect(try roundTrip(model) == model)
    }

    @Test func scalars() throws {
        #expect(try roundTrip(true) == true)
        #expect(try roundTrip(Int8.min) == Int8.min)
        #expect(try roundTrip(UInt64.max) == UInt64.max)
        #expect(try roundTrip(Float16(1.5)) == Float16(1.5))
        #expect(try roundTrip("") == "")
        #expect(try roundTrip(Double.pi) == Double.pi)
        #expect(try roundTrip(Double.nan).isNaN)
        #expect(try roundTrip(-0.0).sign == .minus)
    }

    @Test func optionals() throws {
        #expect(try roundTrip(Int?.none) == nil)
        #expect(try roundTrip(Int?.some(5)) == 5)
        #expect(try roundTrip([1, nil, 3] as [Int?]) == [1, nil, 3])
    }

    @Test func enumsWithAssociatedValues() throws {
        let shapes: [Shape] = [.circle(center: Point(x: 1, y: 2), radius: 3), .polygon([]), .labelled("a", -1), .empty]
        #expect(try roundTrip(shapes) == shapes)
        #expect(try roundTrip(Color.red) == .red)
    }

    @Test func classesAndRecursion() throws {
        let tree = Node(name: "root", children: [Node(name: "a"), Node(name: "b", children: [Node(name: "c")])])
        #expect(try roundTrip(tree) == tree)
        let dog = Dog(name: "Rex", legs: 4)
        let copy = try BinaryDecoder().decode(Dog.self, from: BinaryEncoder().encode(dog))
        #expect(copy == dog)
    }

    @Test func dictionariesWithNonStringKeys() throws {
        let byInt: [Int: [String]] = [1: ["a"], -2: [], 300: ["x", "y"]]
        #expect(try roundTrip(byInt) == byInt)
        let byPoint: [Point: String] = [Point(x: 1, y: 2): "p", Point(x: 3, y: 4): "q"]
        #expect(try roundTrip(byPoint) == byPoint)
        let byUUID: [UUID: Int] = [UUID(): 1, UUID(): 2]
        #expect(try roundTrip(byUUID) == byUUID)
    }

    @Test func emptyCollections() throws {
        #expect(try roundTrip([Int]()) == [])
        #expect(try roundTrip([String]()) == [])
        #expect(try roundTrip([String: Int]()) == [:])
        #expect(try roundTrip(Set<Int>()) == [])
        #expect(try roundTrip(Data()) == Data())
        #expect(try roundTrip(EmptyStruct()) == EmptyStruct())
        #expect(try roundTrip([[Double]]([[], []])) == [[], []])
    }

    @Test func dataAndDate() throws {
        let data = Data((0..<10_000).map { UInt8(truncatingIfNeeded: $0 * 7) })
        #expect(try roundTrip(data) == data)
        let date = Date(timeIntervalSinceReferenceDate: -12345.678)
        #expect(try roundTrip(date) == date)
    }

    @Test func largeArraysOfEveryNumericType() throws {
        let n = 100_000
        #expect(try roundTrip((0..<n).map { Int8(truncatingIfNeeded: $0) }).count == n)
        #expect(try roundTrip((0..<n).map { Int16(truncatingIfNeeded: $0) }) == (0..<n).map { Int16(truncatingIfNeeded: $0) })
        #expect(try roundTrip((0..<n).map { Int32($0) }) == (0..<n).map { Int32($0) })
        #expect(try roundTrip((0..<n).map { Int64($0) * -3 }) == (0..<n).map { Int64($0) * -3 })
        #expect(try roundTrip(Array(0..<n)) == Array(0..<n))
        #expect(try roundTrip((0..<n).map { UInt($0) }) == (0..<n).map { UInt($0) })
        #expect(try roundTrip((0..<n).map { UInt8(truncatingIfNeeded: $0) }) == (0..<n).map { UInt8(truncatingIfNeeded: $0) })
        #expect(try roundTrip((0..<n).map { UInt16(truncatingIfNeeded: $0) }) == (0..<n).map { UInt16(truncatingIfNeeded: $0) })
        #expect(try roundTrip((0..<n).map { UInt32($0) }) == (0..<n).map { UInt32($0) })
        #expect(try roundTrip((0..<n).map { UInt64($0) << 20 }) == (0..<n).map { UInt64($0) << 20 })
        #expect(try roundTrip((0..<n).map { Float($0) / 3 }) == (0..<n).map { Float($0) / 3 })
        #expect(try roundTrip((0..<n).map { Double($0) / 7 }) == (0..<n).map { Double($0) / 7 })
        #expect(try roundTrip((0..<n).map { Float16(Float($0 % 2048)) }) == (0..<n).map { Float16(Float($0 % 2048)) })
    }

    @Test func bulkArraysAreStoredRawNotElementwise() throws {
        let values = (0..<10_000).map(Double.init)
        let bytes = try BinaryEncoder().encode(values)
        // tag + element type + 2-byte varint count + 8 bytes per element
        #expect(bytes.count == 1 + 1 + 2 + 8 * values.count)
    }

    @Test func bulkArrayDecodesThroughAnUnkeyedContainer() throws {
        // A type that reads numbers one by one can decode what [Double] wrote in bulk.
        struct Loose: Decodable {
            var values: [Double] = []
            init(from decoder: any Decoder) throws {
                var container = try decoder.unkeyedContainer()
                while !container.isAtEnd { values.append(try container.decode(Double.self)) }
            }
        }
        let decoded = try BinaryDecoder().decode(Loose.self, from: BinaryEncoder().encode([1.0, 2.0, 3.0]))
        #expect(decoded.values == [1, 2, 3])
        #expect(throws: CodingError.self) {
            try BinaryDecoder().decode([Float].self, from: BinaryEncoder().encode([1.0, 2.0]))
        }
    }

    @Test func userConformanceToBulkCodable() throws {
        struct Celsius: BulkCodable, Equatable {
            var value: Double
            static var bulkElementType: BulkElementType { .float64 }
            init(_ value: Double) { self.value = value }
            init(from decoder: any Decoder) throws { value = try decoder.singleValueContainer().decode(Double.self) }
            func encode(to encoder: any Encoder) throws { var c = encoder.singleValueContainer(); try c.encode(value) }
        }
        let temperatures = (0..<100).map { Celsius(Double($0)) }
        let bytes = try BinaryEncoder().encode(temperatures)
        #expect(bytes.count == 1 + 1 + 1 + 8 * 100)
        #expect(try BinaryDecoder().decode([Celsius].self, from: bytes) == temperatures)
    }
}
