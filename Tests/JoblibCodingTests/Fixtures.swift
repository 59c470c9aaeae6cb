import Foundation
import JoblibCoding

struct Point: Codable, Equatable { var x: Double; var y: Double }

enum Shape: Codable, Equatable {
    case circle(center: Point, radius: Double)
    case polygon([Point])
    case labelled(String, Int)
    case empty
}

enum Color: String, Codable, Equatable { case red, green }

final class Node: Codable, Equatable {
    var name: String
    var children: [Node]
    init(name: String, children: [Node] = []) { self.name = name; self.children = children }
    static func == (a: Node, b: Node) -> Bool { a.name == b.name && a.children == b.children }
}

class Animal: Codable, Equatable {
    var legs: Int
    init(legs: Int) { self.legs = legs }
    static func == (a: Animal, b: Animal) -> Bool { a.legs == b.legs && type(of: a) == type(of: b) }
}

/// Uses superEncoder/superDecoder, as hand-written class hierarchies do.
final class Dog: Animal {
    var name: String
    init(name: String, legs: Int) { self.name = name; super.init(legs: legs) }
    enum CodingKeys: String, CodingKey { case name }
    required init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        try super.init(from: container.superDecoder())
    }
    override func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try super.encode(to: container.superEncoder())
    }
    static func == (a: Dog, b: Dog) -> Bool { a.name == b.name && a.legs == b.legs }
}

struct EmptyStruct: Codable, Equatable {}

struct Model: Codable, Equatable {
    var name: String
    var version: Int32
    var weights: [Double]
    var biases: [Float]
    var counts: [Int]
    var bytes: [UInt8]
    var data: Data
    var created: Date
    var tags: Set<String>
    var lookup: [Int: String]
    var byPoint: [Point: Double]?
    var nested: [[Point]]
    var optional: Int?
    var missing: String?
    var shapes: [Shape]
    var color: Color
    var empty: EmptyStruct
    var emptyArray: [String]
    var emptyDictionary: [String: Int]
    var unicode: String
    var flags: [Bool]
    var small: [Int8]
    var halves: [UInt16]
}

extension Point: Hashable {}

func sampleModel() -> Model {
    Model(
        name: "linear", version: 3,
        weights: (0..<1000).map { Double($0) * 0.5 },
        biases: [1.5, -2.25, .infinity],
        counts: [Int.min, -1, 0, 1, Int.max],
        bytes: Array(0...255),
        data: Data([1, 2, 3, 0, 255]),
        created: Date(timeIntervalSince1970: 1_700_000_000.25),
        tags: ["a", "b", "c"],
        lookup: [1: "one", 2: "two", -7: "minus seven"],
        byPoint: [Point(x: 1, y: 2): 3.0],
        nested: [[Point(x: 0, y: 0)], [], [Point(x: 1, y: 1), Point(x: 2, y: 2)]],
        optional: 42, missing: nil,
        shapes: [.circle(center: Point(x: 1, y: 2), radius: 3), .polygon([Point(x: 0, y: 0)]), .labelled("x", 7), .empty],
        color: .green, empty: EmptyStruct(), emptyArray: [], emptyDictionary: [:],
        unicode: "naïve café 🚀 \u{0}",
        flags: [true, false, true],
        small: [-128, 0, 127],
        halves: [0, 65535])
}
