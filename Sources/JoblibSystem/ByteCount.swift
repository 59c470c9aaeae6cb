/// A number of bytes, written with its unit: `.megabytes(1)`, `.gigabytes(10)`.
///
/// Units are binary (a megabyte is 1,048,576 bytes), as `du -h` and joblib's `"1M"` count them.
public struct ByteCount: Hashable, Comparable, Sendable, Codable, CustomStringConvertible,
    ExpressibleByIntegerLiteral
{
    /// The count in bytes.
    public var bytes: Int

    /// A count of `bytes` bytes.
    public init(bytes: Int) {
        precondition(bytes >= 0, "a byte count cannot be negative (got \(bytes))")
        self.bytes = bytes
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
