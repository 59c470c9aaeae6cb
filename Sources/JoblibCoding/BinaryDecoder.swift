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
        // A whole input that is one Int, Double or Bool (a cache hit of a small function) is read
        // without a decoding state. Anything else, malformed input included, takes the general
        // path below, which gives the same value or the same error.
        if T.self == Int.self {
            if buffer.count == 9, buffer.load(as: UInt8.self) == Tag.int64.rawValue {
                return unsafeBitCast(Int(Int64(littleEndian: buffer.loadUnaligned(fromByteOffset: 1, as: Int64.self))), to: T.self)
            }
        } else if T.self == Double.self {
            if buffer.count == 9, buffer.load(as: UInt8.self) == Tag.float64.rawValue {
                return unsafeBitCast(Double(bitPattern: UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: 1, as: UInt64.self))), to: T.self)
            }
        } else if T.self == Bool.self {
            if buffer.count == 1 {
                let raw = buffer.load(as: UInt8.self)
                if raw == Tag.trueValue.rawValue || raw == Tag.falseValue.rawValue {
                    return unsafeBitCast(raw == Tag.trueValue.rawValue, to: T.self)
                }
            }
        }
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
    /// Hands `body` a cursor over the elements of the encoded array in `buffer`, for a loop that
    /// decodes each element right before using it (so only one is alive at a time); an element
    /// that cannot be decoded throws from ``ElementCursor/decode(_:)`` and the others still decode.
    ///
    /// - Throws: ``CodingError`` when the bytes are not one well-formed array, or what `body` throws.
    package func withElements<R>(
        in buffer: UnsafeRawBufferPointer, sections: (any BulkSectionReader)?, _ body: (inout ElementCursor) throws -> R
    ) throws -> R {
        let state = DecodingState(bytes: buffer, sections: sections, userInfo: userInfo)
        defer { state.finish() }
        let end = try state.skipValue(at: 0, depth: 0)
        guard end == buffer.count else {
            throw CodingError(.trailingBytes, "\(buffer.count - end) bytes follow the encoded value", offset: end)
        }
        var cursor = try ElementCursor(state)
        return try body(&cursor)
    }
}
