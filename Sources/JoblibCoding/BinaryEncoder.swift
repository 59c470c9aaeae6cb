#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Encodes any `Encodable` value into swift-joblib's compact binary form.
///
/// Every value is tagged with its kind, so decoding a different type fails clearly instead of
/// producing garbage. Arrays of ``BulkCodable`` numbers (`[Double]`, `[Int32]`, `Data` …) are
/// stored as their raw bytes in one copy, which makes large numeric values as fast to encode as
/// `memcpy`. The layout is described in `BinaryFormat.md` beside the source.
///
/// ```swift
/// let bytes = try BinaryEncoder().encode(model)
/// let copy = try BinaryDecoder().decode(Model.self, from: bytes)
/// ```
public struct BinaryEncoder: Sendable {
    /// Values handed to `encode(to:)` implementations through `Encoder.userInfo`.
    public var userInfo: [CodingUserInfoKey: any Sendable] = [:]

    /// Creates an encoder.
    public init() {}

    /// Encodes `value`.
    /// - Throws: ``CodingError`` with code `invalidEncoding` when the value's `Encodable`
    ///   conformance misuses its containers, or any error the conformance throws itself.
    public func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        try encode(value, sections: nil)
    }

    /// Encodes `value` into `Data`.
    public func encodeData<T: Encodable>(_ value: T) throws -> Data {
        Data(try encode(value))
    }

    /// Encodes with large arrays offered to `sections` for storage out of line.
    package func encode<T: Encodable>(_ value: T, sections: (any BulkSectionWriter)?) throws -> [UInt8] {
        let state = EncodingState(canonical: false, hashing: false, sections: sections, userInfo: userInfo)
        defer { state.finish() }
        try state.encodeValue(value, path: .root)
        return state.bytes
    }
}
