/// The elements of one encoded array, decoded one at a time by a plain loop
/// (``BinaryDecoder/withElements(in:sections:_:)``).
///
/// A loop instead of a closure per element that receives a `Result<T, any Error>`: in code that
/// knows `T` only generically (a worker runs tasks whose type it looked up by name), every
/// `Result<T, …>` costs a runtime metadata lookup, about 10 % of a tiny task's time in a worker
/// (BENCHMARKS.md, "`Codable` tiny tasks").
package struct ElementCursor {
    private let state: DecodingState
    /// For an unkeyed container: where the current element starts (-1 before the first).
    private var current = -1
    /// Where the next entry marker is, or -1 until the current element's end is known.
    private var following = 1
    /// For a bulk array of numbers: its element count (the elements are decoded together), else -1.
    private let bulkCount: Int
    private var bulkElements: Any?
    /// The index of the current element (-1 before the first).
    package private(set) var index = -1

    init(_ state: DecodingState) throws {
        self.state = state
        switch try state.tag(at: 0) {
        case .unkeyed:
            bulkCount = -1
        case .bulk, .bulkSection:
            var position = 2
            bulkCount = Int(try state.readVarint(at: &position))
        case let tag:
            throw state.typeMismatch("an array", found: tag, codingPath: [], offset: 0)
        }
    }

    /// Moves to the next element; false after the last.
    package mutating func next() throws -> Bool {
        if bulkCount >= 0 {
            guard index < bulkCount else { return false }
            index += 1
            return index < bulkCount
        }
        if following < 0 { following = try state.valueEnd(current, depth: 1) }
        guard following < state.count, try state.byte(at: following) == entryMarker else {
            current = -1
            return false
        }
        current = following + 1
        following = -1
        index += 1
        return true
    }

    /// Decodes the element that ``next()`` moved to, as a `T`.
    /// - Throws: ``CodingError`` or the type's own error; the cursor can still move on.
    package mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        if bulkCount >= 0 {
            precondition(index >= 0 && index < bulkCount, "decode(_:) without an element: call next() first")
            if bulkElements == nil { bulkElements = try state.decodeValue([T].self, at: 0, path: .root, depth: 0) }
            return (bulkElements as! [T])[index]
        }
        precondition(current >= 0, "decode(_:) without an element: call next() first")
        let value = try state.decodeValue(T.self, at: current, path: CodingPath(parent: nil, index: index), depth: 1)
        // A container that reached its end recorded where it is (`endHint`): no second walk.
        following = try state.valueEnd(current, depth: 1)
        return value
    }
}
