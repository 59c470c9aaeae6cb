import Foundation
import JoblibCoding
@testable import JoblibPersistence

/// Edits containers the way an attacker would: change a field, then make every checksum agree
/// again, so that the edit reaches the validation behind the checksums.
enum ContainerSurgery {
    static func readU64(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
        bytes[offset..<offset + 8].reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    static func writeU64(_ bytes: inout [UInt8], _ offset: Int, _ value: UInt64) {
        for index in 0..<8 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
    }

    /// Offset of the trailer.
    static func trailer(_ bytes: [UInt8]) -> Int { bytes.count - 64 }

    /// Recomputes the section digests, the metadata checksum and the trailer checksum from
    /// whatever the fields say, wherever they are in bounds.
    static func repairChecksums(_ bytes: inout [UInt8]) {
        guard bytes.count >= 128 else { return }
        let t = trailer(bytes)
        let valueOffset = readU64(bytes, t), tableOffset = readU64(bytes, t + 16), sections = readU64(bytes, t + 24)
        if tableOffset <= UInt64(t), sections <= UInt64(t - Int(tableOffset)) / 48 {
            for index in 0..<Int(sections) {
                let entry = Int(tableOffset) + index * 48
                let offset = readU64(bytes, entry), count = readU64(bytes, entry + 8)
                if offset <= UInt64(bytes.count), count <= UInt64(bytes.count) - offset {
                    let digest = bytes[Int(offset)..<Int(offset + count)].withUnsafeBytes { xxh3Digest($0) }
                    writeU64(&bytes, entry + 32, digest.high)
                    writeU64(&bytes, entry + 40, digest.low)
                }
            }
        }
        if valueOffset <= UInt64(t) {
            let hasher = XXH3Stream()
            bytes[Int(valueOffset)..<t].withUnsafeBytes { hasher.update($0) }
            writeU64(&bytes, t + 40, hasher.digest().low)
        }
        var covered = Array(bytes[t..<t + 48])
        covered += [bytes[8], bytes[9], bytes[10], bytes[11]]
        writeU64(&bytes, t + 48, covered.withUnsafeBytes { xxh3Digest64($0) })
        repairHeaderChecksum(&bytes)
    }

    /// Recomputes the version-2 header checksum (bytes 0..<56 and the type name after them).
    static func repairHeaderChecksum(_ bytes: inout [UInt8]) {
        guard bytes.count >= 64, bytes[8] == 2, bytes[9] == 0 else { return }
        let nameLength = Int(bytes[12]) | Int(bytes[13]) << 8
        guard 64 + nameLength <= bytes.count else { return }
        let covered = Array(bytes[0..<56]) + Array(bytes[64..<64 + nameLength])
        writeU64(&bytes, 56, covered.withUnsafeBytes { xxh3Digest64($0) })
    }
}
