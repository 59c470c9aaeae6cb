/// Reads one scalar at an offset, checking its tag; shared by all three container kinds.
extension DecodingState {
    // The expected tag is compared as a byte; anything else goes to `mismatch`, which reports an
    // invalid tag or a type mismatch as before.

    @inline(__always) func readBool(at offset: Int, _ path: @autoclosure () -> [any CodingKey]) throws -> Bool {
        let raw = try byte(at: offset)
        if raw == Tag.trueValue.rawValue { return true }
        if raw == Tag.falseValue.rawValue { return false }
        throw try mismatch("a Bool", at: offset, path())
    }

    @inline(__always) func readString(at offset: Int, _ path: @autoclosure () -> [any CodingKey]) throws -> String {
        guard try byte(at: offset) == Tag.string.rawValue else { throw try mismatch("a String", at: offset, path()) }
        var position = offset + 1
        return try readStringBody(at: &position)
    }

    @inline(__always) func readNumber<T: FixedWidthInteger>(_: T.Type, tag expected: Tag, at offset: Int, _ path: @autoclosure () -> [any CodingKey]) throws -> T {
        guard try byte(at: offset) == expected.rawValue else { throw try mismatch(expected.kindName, at: offset, path()) }
        return try readFixed(T.self, at: offset + 1)
    }

    @inline(__always) func readDouble(at offset: Int, _ path: @autoclosure () -> [any CodingKey]) throws -> Double {
        Double(bitPattern: try readNumber(UInt64.self, tag: .float64, at: offset, path()))
    }

    @inline(__always) func readFloat(at offset: Int, _ path: @autoclosure () -> [any CodingKey]) throws -> Float {
        Float(bitPattern: try readNumber(UInt32.self, tag: .float32, at: offset, path()))
    }

    @inline(__always) func isNil(at offset: Int) throws -> Bool { try rawTag(at: offset) == Tag.null.rawValue }

    /// The error for a value that is not of the expected kind (or not a value at all).
    @inline(never) private func mismatch(_ expected: String, at offset: Int, _ path: [any CodingKey]) throws -> CodingError {
        typeMismatch(expected, found: try tag(at: offset), codingPath: path, offset: offset)
    }
}
