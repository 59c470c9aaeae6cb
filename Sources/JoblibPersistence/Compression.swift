import SystemPackage

/// How `dump` compresses a file: an algorithm and a level.
///
/// ```swift
/// try dump(model, to: "model.joblib", compression: .zstd(level: 3))
/// try dump(model, to: "model.joblib.gz")           // gzip level 3, chosen from the extension
/// ```
///
/// `load` recognises every algorithm from the file's first bytes, whatever its name. Compressed
/// files cannot be memory-mapped; for large arrays that you want to map, use ``none``.
public struct Compression: Hashable, Sendable, CustomStringConvertible {
    /// The compression algorithms.
    package enum Algorithm: String, Hashable, Sendable, CaseIterable {
        case none, zlib, gzip, bz2, xz, lzma, lz4, zstd
        /// Resolved from the file name by `dump` (see ``Compression/automatic``).
        case automatic
    }

    package var algorithm: Algorithm
    /// The level; its meaning and range depend on the algorithm (higher is smaller and slower).
    public var level: Int

    package init(_ algorithm: Algorithm, level: Int) {
        self.algorithm = algorithm
        self.level = level
    }

    /// No compression: arrays are stored as raw aligned sections and can be memory-mapped.
    public static let none = Compression(.none, level: 0)
    /// Chosen from the file's extension by `dump` (`.z .gz .bz2 .xz .lzma .lz4 .zst`, each at
    /// level 3 as in joblib, lz4 at its fast level 0; `.lzma` is the LZMA-alone format, as
    /// joblib writes it); ``none`` for any other name. The default.
    public static let automatic = Compression(.automatic, level: 0)
    /// zlib (`.z`, joblib's default compressor), levels 0–9.
    public static func zlib(level: Int = 3) -> Compression { Compression(.zlib, level: level) }
    /// gzip (`.gz`), levels 0–9; `gzip -d` can read the stream (the content stays ours).
    public static func gzip(level: Int = 3) -> Compression { Compression(.gzip, level: level) }
    /// bzip2 (`.bz2`), levels 1–9.
    public static func bz2(level: Int = 3) -> Compression { Compression(.bz2, level: level) }
    /// xz (`.xz`), presets 0–9.
    public static func xz(level: Int = 3) -> Compression { Compression(.xz, level: level) }
    /// The legacy LZMA-alone format (`.lzma`), presets 0–9: what Python's joblib writes for
    /// `.lzma` names, read by its `lzma` module with `FORMAT_ALONE`. Prefer ``xz(level:)``, which
    /// has a checksum; this one is for files Python reads as `.lzma`.
    public static func lzma(level: Int = 3) -> Compression { Compression(.lzma, level: level) }
    /// LZ4 frame (`.lz4`), levels 0–12: 0–2 are the fast compressor, 3 and up the high-compression one.
    public static func lz4(level: Int = 0) -> Compression { Compression(.lz4, level: level) }
    /// Zstandard (`.zst`), levels 1–22. Level 3 is a good default: several times faster than
    /// zlib at a similar or smaller size.
    public static func zstd(level: Int = 3) -> Compression { Compression(.zstd, level: level) }

    /// The algorithm's name (`"zstd"`), as `joblib inspect` prints it.
    public var name: String { algorithm.rawValue }

    /// The algorithm and its level, for example `zstd(level: 3)`; `none` and `automatic` alone.
    public var description: String {
        algorithm == .none || algorithm == .automatic ? name : "\(name)(level: \(level))"
    }

    /// The levels each algorithm accepts.
    var validLevels: ClosedRange<Int> {
        switch algorithm {
        case .none, .automatic: 0...0
        case .zlib, .gzip: 0...9
        case .bz2: 1...9
        case .xz, .lzma: 0...9
        case .lz4: 0...12
        case .zstd: 1...22
        }
    }

    /// Resolves ``automatic`` for `path` (``none`` without a path), and throws unless the level
    /// is valid for the algorithm.
    func validated(for path: FilePath? = nil) throws(PersistenceError) -> Compression {
        if algorithm == .automatic {
            return path.map(Compression.inferred(from:)) ?? .none
        }
        guard validLevels.contains(level) else {
            throw PersistenceError(
                .invalidArgument, "\(name) level \(level) is out of range \(validLevels.lowerBound)...\(validLevels.upperBound)")
        }
        return self
    }

    /// The compression a file name implies (`.z .gz .bz2 .xz .lzma .lz4 .zst`), level 3 as in joblib
    /// (lz4: its fast level 0); ``none`` for any other name.
    public static func inferred(from path: FilePath) -> Compression {
        switch path.extension?.lowercased() {
        case "z": .zlib()
        case "gz": .gzip()
        case "bz2": .bz2()
        case "xz": .xz()
        case "lzma": .lzma()
        case "lz4": .lz4()
        case "zst": .zstd()
        default: .none
        }
    }

    /// The algorithm whose stream starts with `prefix` (at least 6 bytes when available), or nil
    /// when the bytes are not a compressed stream we know.
    package static func detect(_ prefix: some Collection<UInt8>) -> Algorithm? {
        let bytes = Array(prefix.prefix(6))
        func starts(_ magic: [UInt8]) -> Bool { bytes.count >= magic.count && Array(bytes.prefix(magic.count)) == magic }
        if starts([0x1F, 0x8B]) { return .gzip }
        if starts([0x28, 0xB5, 0x2F, 0xFD]) { return .zstd }
        if starts([0x04, 0x22, 0x4D, 0x18]) { return .lz4 }
        if starts([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) { return .xz }
        if starts([0x42, 0x5A, 0x68]) { return .bz2 }
        // zlib: CMF says deflate with a window of at most 32 KiB, and CMF·256+FLG is a multiple of 31.
        if bytes.count >= 2, bytes[0] & 0x0F == 8, bytes[0] >> 4 <= 7,
           (UInt16(bytes[0]) << 8 | UInt16(bytes[1])) % 31 == 0 {
            return .zlib
        }
        // The legacy .lzma ("LZMA alone") header: properties byte 0x5D and a 64 KiB-or-larger dictionary.
        if starts([0x5D, 0x00, 0x00]) { return .lzma }
        return nil
    }
}
