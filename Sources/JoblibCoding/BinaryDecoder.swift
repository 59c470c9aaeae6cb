#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Decodes values that ``BinaryEncoder`` encoded.
///
/// Safe on untrusted input: every length is checked against the bytes that are left before
/// anything is allocated, nesting depth is bounded, and malformed, truncated, mistyped or
/// trailing input throws a ``CodingError`` rather than crashing or allocating without bound.
public struct BinaryDecoder: Sendable {
    /// Values handed to `init(from:)` implementations through `Decoder.userInfo`.
    public var userInfo: [CodingUserInfoKey: any Sendable] = [:]

    /// Creates a decoder.
    public init() {}

    /// Decodes a value of `type` from `bytes`, which must hold exactly one encoded value.
    /// - Throws: ``CodingError`` (`truncated`, `lengthExceedsInput`, `typeMismatch`, `invalidTag`,
    ///   `keyNotFound`, `trailingBytes`, `invalidUTF8`, `nestingTooDeep`), or an error thrown by
    ///   the type's own `init(from:)`.
    public func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try bytes.withUnsafeBytes { try decode(type, from: $0) }
    }

    /// Decodes a value of `type` from `data`.
    public func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try data.withUnsafeBytes { try decode(type, from: $0) }
    }

    /// Decodes a value of `type` from raw memory (a mapped file, say), without copying it first.
    public func decode<T: Decodable>(_ type: T.Type, from buffer: UnsafeRawBufferPointer) throws -> T {
        try decode(type, from: buffer, sections: nil)
    }

    /// Decodes with bulk-section references resolved through `sections`.
    package func decode<T: Decodable>(
        _ type: T.Type, from buffer: UnsafeRawBufferPointer, sections: (any BulkSectionReader)?
    ) throws -> T {
        let state = DecodingState(bytes: buffer, sections: sections, userInfo: userInfo)
        defer { state.finish() }
        // Validate the framing of the whole input first: truncation and trailing bytes are
        // reported as such, before any type's init(from:) sees the data.
        let end = try state.skipValue(at: 0, depth: 0)
        guard end == buffer.count else {
            throw CodingError(.trailingBytes, "\(buffer.count - end) bytes follow the encoded value", offset: end)
        }
        return try state.decodeValue(type, at: 0, path: .root, depth: 0)
    }
}

extension BinaryDecoder {
    /// Decodes the elements of an encoded array one at a time, handing each to `body` before the
    /// next is decoded (so only one element is alive at a time); an element that cannot be
    /// decoded is handed over as a failure and the others still decode.
    ///
    /// - Throws: ``CodingError`` when the bytes are not one well-formed array.
    package func forEachElement<T: Decodable>(
        of type: T.Type, in buffer: UnsafeRawBufferPointer, sections: (any BulkSectionReader)?,
        _ body: (Result<T, any Error>) throws -> Void
    ) throws {
        let state = DecodingState(bytes: buffer, sections: sections, userInfo: userInfo)
        defer { state.finish() }
        let end = try state.skipValue(at: 0, depth: 0)
        guard end == buffer.count else {
            throw CodingError(.trailingBytes, "\(buffer.count - end) bytes follow the encoded value", offset: end)
        }
        guard try state.tag(at: 0) == .unkeyed else {
            // Bulk arrays (numbers) are small per element: decode them together.
            for element in try state.decodeValue([T].self, at: 0, path: .root, depth: 0) { try body(.success(element)) }
            return
        }
        var position = 1
        var index = 0
        while try state.byte(at: position) == entryMarker {
            let start = position + 1
            position = try state.skipValue(at: start, depth: 1)
            let path = CodingPath(parent: nil, index: index)
            try body(Result { try state.decodeValue(T.self, at: start, path: path, depth: 1) })
            index += 1
        }
    }
}
