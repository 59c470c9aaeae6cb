import Foundation
import JoblibCoding
@testable import JoblibPersistence
import Testing

/// The checks a small container (a cache hit's output: no sections) goes through on every load,
/// made cheap (words instead of byte sequences, checksums assembled on the stack): each must
/// still see every damage.
@Suite(.timeLimit(.minutes(1))) struct SmallContainerTests {
    private func code(_ bytes: [UInt8]) -> PersistenceError.Code? {
        do {
            _ = try bytes.withUnsafeBytes { try load(Int.self, fromBorrowed: $0) }
            return nil
        } catch let error as PersistenceError {
            return error.code
        } catch {
            Issue.record("not a PersistenceError: \(error)")
            return nil
        }
    }

    @Test func signatureWordsAreTheSignatureBytes() {
        #expect(containerMagic.withUnsafeBytes { $0.readLittleEndian(UInt64.self, at: 0) } == containerMagicWord)
        #expect(trailerMagic.withUnsafeBytes { $0.readLittleEndian(UInt64.self, at: 0) } == trailerMagicWord)
    }

    @Test func everyBitFlipOfASmallOutputIsDetected() throws {
        let bytes = [UInt8](try dump(42))
        #expect(try bytes.withUnsafeBytes { try load(Int.self, fromBorrowed: $0) } == 42)
        var undetected: [Int] = []
        for bit in 0..<(bytes.count * 8) {
            var damaged = bytes
            damaged[bit / 8] ^= 1 << UInt8(bit % 8)
            if code(damaged) == nil { undetected.append(bit) }
        }
        #expect(undetected.isEmpty, "undetected flips at bits \(undetected.prefix(10))")
    }

    /// Each reserved header byte, set with the header checksum made to agree, is refused: the
    /// word-wise check covers exactly bytes 14..<16 and 24..<56.
    @Test func everyReservedHeaderByteIsChecked() throws {
        let bytes = [UInt8](try dump(42))
        for offset in Array(14..<16) + Array(24..<56) {
            for value: UInt8 in [0x01, 0x80] {
                var edited = bytes
                edited[offset] = value
                ContainerSurgery.repairChecksums(&edited)
                #expect(code(edited) == .corruptHeader, "reserved byte \(offset) = \(value)")
            }
        }
    }

    /// The checksums computed on the stack are the ones the format defines (XXH3-64 over the
    /// bytes as FileFormat.md lists them), for names of every length up to the limit.
    @Test func headerAndTrailerChecksumsFollowTheFormat() throws {
        for length in [0, 1, 7, 8, 63, 200, maximumTypeNameLength] {
            let name = String(repeating: "n", count: length)
            let header = headerBytes(typeName: name, containerLength: 1000)
            let covered = Array(header[0..<56]) + Array(header[64...])
            #expect(ContainerSurgery.readU64(header, 56) == covered.withUnsafeBytes { xxh3Digest64($0) }, "name of \(length) bytes")
        }
        let fields = (0..<48).map { UInt8($0 * 3) }
        let expected = (fields + [2, 0, 1, 0]).withUnsafeBytes { xxh3Digest64($0) }
        #expect(fields.withUnsafeBytes { trailerChecksum($0, version: 2, flags: 1) } == expected)
    }

    @Test func aSectionReferenceWithoutSectionsIsCorrupt() {
        #expect {
            _ = try NoSections.shared.section(0, elementType: .float64, count: 1)
        } throws: { error in
            (error as? PersistenceError)?.code == .corruptHeader
        }
    }
}
