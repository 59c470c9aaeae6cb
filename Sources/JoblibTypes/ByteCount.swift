/// A number of bytes, written with its unit: `.megabytes(1)`, `.gigabytes(10)`.
///
/// Units are binary (a megabyte is 1,048,576 bytes), as `du -h` and joblib's `"1M"` count them.
///
/// A count is never negative: a negative number of bytes is zero bytes. Counts are often
/// computed (a budget minus what is used) or read from configuration, so a negative one does not
/// trap; an option given one behaves as given zero bytes.
public struct ByteCount: Hashable, Comparable, Sendable, Codable, CustomStringConvertible,
    ExpressibleByIntegerLiteral
{
    /// The count in bytes, zero or more (a negative value stored here becomes zero).
    public var bytes: Int {
        didSet { if bytes < 0 { bytes = 0 } }
    }

    /// A count of `bytes` bytes, or of zero bytes when `bytes` is negative.
    public init(bytes: Int) {
        self.bytes = max(bytes, 0)
    }

    private enum CodingKeys: String, CodingKey { case bytes }

    /// Decodes `{"bytes": n}`; a negative `n` is zero bytes, as for ``init(bytes:)``.
    ///
    /// - Throws: `DecodingError` when the value is not an object with an integer `bytes`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(bytes: try container.decode(Int.self, forKey: .bytes))
    }

    /// A count of `value` bytes, so that `maxNBytes: 4096` reads naturally.
    public init(integerLiteral value: Int) { self.init(bytes: value) }

    /// `n` bytes.
    public static func bytes(_ n: Int) -> ByteCount { ByteCount(bytes: n) }
    /// `n` KiB (1,024 bytes each).
    public static func kilobytes(_ n: Int) -> ByteCount { ByteCount(bytes: n << 10) }
    /// `n` MiB (1,048,576 bytes each).
    public static func megabytes(_ n: Int) -> ByteCount { ByteCount(bytes: n << 20) }
    /// `n` GiB (1,073,741,824 bytes each).
    public static func gigabytes(_ n: Int) -> ByteCount { ByteCount(bytes: n << 30) }

    /// Whether `lhs` is fewer bytes than `rhs`.
    public static func < (lhs: ByteCount, rhs: ByteCount) -> Bool { lhs.bytes < rhs.bytes }

    /// The count with a binary unit, for example `1.5 MiB`.
    public var description: String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if unit == 0 { return "\(bytes) B" }
        let rounded = (value * 10).rounded() / 10
        return "\(rounded) \(units[unit])"
    }
}
