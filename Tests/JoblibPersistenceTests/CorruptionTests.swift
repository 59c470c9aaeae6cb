import Foundation
import JoblibCoding
import JoblibPersistence
import JoblibTestSupport
import Testing

@Suite(.timeLimit(.minutes(1))) struct CorruptionTests {
    let model = GoldenModel.reference

    @Test func truncationAtEveryOffsetIsReportedAsTruncation() throws {
        let bytes = [UInt8](try dump(model))
        for cut in 0..<bytes.count {
            let code = persistenceErrorCode { _ = try load(GoldenModel.self, from: Data(bytes.prefix(cut))) }
            #expect(code == (cut == 0 ? .notOurFile : .truncated), "cut at \(cut) of \(bytes.count)")
        }
    }

    @Test(arguments: [Compression.zlib(level: 3), .gzip(level: 3), .bz2(level: 3), .xz(level: 3), .lz4(level: 0), .zstd(level: 3)])
    func truncatedCompressedFilesAreRejected(compression: Compression) throws {
        let bytes = [UInt8](try dump(model, compression: compression))
        for cut in stride(from: 1, to: bytes.count, by: max(1, bytes.count / 200)) {
            let code = persistenceErrorCode { _ = try load(GoldenModel.self, from: Data(bytes.prefix(cut))) }
            #expect(code == .truncated || code == .decompressionFailed || code == .notOurFile, "cut at \(cut): \(String(describing: code))")
        }
    }

    @Test func truncatedFilesOnDiskAreRejectedInEveryMode() throws {
        let scratch = try Scratch()
        let path = scratch.path("cut.joblib")
        let bytes = [UInt8](try dump(model))
        for cut in [1, 8, 63, 64, 65, 4096, bytes.count - 65, bytes.count - 64, bytes.count - 1] {
            try Data(bytes.prefix(cut)).write(to: URL(fileURLWithPath: path))
            for mode in [nil, MappingMode.readOnly, .copyOnWrite, .readWrite] {
                #expect(persistenceErrorCode { _ = try load(GoldenModel.self, from: path, mapping: mode) } == .truncated, "cut \(cut) \(String(describing: mode))")
            }
        }
    }

    /// Every single-bit flip in an uncompressed container is detected: checksums cover the header,
    /// value, table and sections, and padding must be zero.
    @Test func everyBitFlipIsDetected() throws {
        let bytes = [UInt8](try dump(model))
        var undetected: [Int] = []
        for bit in 0..<(bytes.count * 8) {
            var damaged = bytes
            damaged[bit / 8] ^= 1 << UInt8(bit % 8)
            if persistenceErrorCode({ _ = try load(GoldenModel.self, from: Data(damaged)) }) == nil { undetected.append(bit) }
        }
        #expect(undetected.isEmpty, "undetected flips at bits \(undetected.prefix(10))")
    }

    @Test(arguments: [Compression.zlib(level: 3), .gzip(level: 3), .bz2(level: 3), .xz(level: 3), .lz4(level: 0), .zstd(level: 3)])
    func bitFlipsInCompressedFilesGiveErrorsOrTheRightValue(compression: Compression) throws {
        let bytes = [UInt8](try dump(model, compression: compression))
        var random = SeededGenerator(seed: 99)
        for _ in 0..<300 {
            var damaged = bytes
            let bit = Int.random(in: 0..<(bytes.count * 8), using: &random)
            damaged[bit / 8] ^= 1 << UInt8(bit % 8)
            do {
                // Some header bits of the codecs (a gzip timestamp, say) change nothing.
                #expect(try load(GoldenModel.self, from: Data(damaged)) == model, "bit \(bit)")
            } catch let error as PersistenceError {
                #expect([.checksumMismatch, .decompressionFailed, .truncated, .corruptHeader, .notOurFile].contains(error.code), "bit \(bit): \(error)")
            }
        }
    }

    /// Header fields set to absurd values, with every checksum repaired so that the validation
    /// behind them is what must catch it.
    @Test func absurdHeaderValuesGiveDistinctErrors() throws {
        let bytes = [UInt8](try dump(model))
        let t = ContainerSurgery.trailer(bytes)
        let tableOffset = Int(ContainerSurgery.readU64(bytes, t + 16))
        func edited(_ edit: (inout [UInt8]) -> Void) -> PersistenceError.Code? {
            var copy = bytes
            edit(&copy)
            ContainerSurgery.repairChecksums(&copy)
            return persistenceErrorCode { _ = try load(GoldenModel.self, from: Data(copy)) }
        }
        let huge: [UInt64] = [.max, 1 << 63, 1 << 62, UInt64(bytes.count), UInt64(bytes.count) + 1, 0]
        for value in huge {
            for field in 0..<5 {  // value offset, value length, table offset, section count, file length
                if ContainerSurgery.readU64(bytes, t + 8 * field) == value { continue }
                let code = edited { ContainerSurgery.writeU64(&$0, t + 8 * field, value) }
                #expect(code == .corruptHeader || code == .truncated, "trailer field \(field) = \(value): \(String(describing: code))")
            }
            for field in 0..<3 {  // section 0: offset, byte count, element count
                if ContainerSurgery.readU64(bytes, tableOffset + 8 * field) == value { continue }
                let code = edited { ContainerSurgery.writeU64(&$0, tableOffset + 8 * field, value) }
                #expect(code == .corruptHeader, "section field \(field) = \(value): \(String(describing: code))")
            }
        }
        #expect(edited { $0[tableOffset + 24] = 0xEE } == .corruptHeader)   // unknown element type
        #expect(edited { $0[tableOffset + 24] = 0x19 } == .corruptHeader)   // float32 instead of float64
        #expect(edited { $0[8] = 3 } == .newerFormatVersion)
        #expect(edited { $0[8] = 0 } == .corruptHeader)
        #expect(edited { $0[11] = 0x80 } == .newerFormatVersion)
        #expect(edited { $0[30] = 1 } == .corruptHeader)                    // reserved header byte
        #expect(edited { $0[14] = 1 } == .corruptHeader)                    // reserved header byte
        #expect(edited { $0[16] ^= 1 } == .corruptHeader)                   // declared length
        #expect(edited { $0[12] = 0xFF; $0[13] = 0x7F } == .truncated || edited { $0[12] = 0xFF; $0[13] = 0x7F } == .corruptHeader)
        var damagedHeader = bytes
        damagedHeader[20] ^= 1  // not repaired: the header checksum catches it
        #expect(persistenceErrorCode { _ = try load(GoldenModel.self, from: Data(damagedHeader)) } == .checksumMismatch)
        #expect(edited { $0[0] = 0x88 } == .notOurFile)
        var damagedTrailer = bytes
        damagedTrailer[t + 50] ^= 1
        #expect(persistenceErrorCode { _ = try load(GoldenModel.self, from: Data(damagedTrailer)) } == .checksumMismatch)
        var damagedVersion = bytes
        damagedVersion[8] = 3  // not repaired: damage, not a newer writer
        #expect(persistenceErrorCode { _ = try load(GoldenModel.self, from: Data(damagedVersion)) } == .checksumMismatch)
        // A section's bytes changed, its checksum not repaired:
        var flipped = bytes
        flipped[Int(ContainerSurgery.readU64(bytes, tableOffset)) + 3] ^= 0x10
        #expect(persistenceErrorCode { _ = try load(GoldenModel.self, from: Data(flipped)) } == .checksumMismatch)
    }

    @Test func wrongTypesForeignFilesAndNewerVersionsAreDistinct() throws {
        let scratch = try Scratch()
        let path = scratch.path("m.joblib")
        try dump(model, to: path)
        #expect(persistenceErrorCode { _ = try load([Double].self, from: path) } == .typeMismatch)
        #expect(persistenceErrorCode { _ = try load(Model.self, from: path) } == .typeMismatch)
        try dump(NDArray(shape: [100], (0..<100).map(Double.init)), to: path)
        #expect(persistenceErrorCode { _ = try load(NDArray<Float>.self, from: path, mapping: .readOnly) } == .typeMismatch)

        // A pickle is read as a Python joblib file (JoblibPickle): this one is cut short.
        let pickle = Data([0x80, 0x04, 0x95, 0x10, 0, 0, 0, 0, 0, 0, 0])
        try pickle.write(to: URL(fileURLWithPath: path))
        do {
            _ = try load([Double].self, from: path)
            Issue.record("a pickle loaded")
        } catch let error as PersistenceError {
            #expect(error.code == .truncated && error.message.contains("pickle") && error.path == path)
        }
        try Data("hello, world".utf8).write(to: URL(fileURLWithPath: path))
        #expect(persistenceErrorCode { _ = try load([Double].self, from: path) } == .notOurFile)
        try Data().write(to: URL(fileURLWithPath: path))
        #expect(persistenceErrorCode { _ = try load([Double].self, from: path) } == .notOurFile)
        #expect(persistenceErrorCode { _ = try load([Double].self, from: scratch.path("missing")) } == .io)
        // A compressed stream that holds something else is not ours either.
        let gzip = try TestSupport.run(URL(fileURLWithPath: "/bin/sh"), ["-c", "printf hello | gzip > '\(path)'"])
        #expect(gzip.status == 0)
        #expect(persistenceErrorCode { _ = try load([Double].self, from: path) } == .notOurFile)
        // Bytes after the end of a compressed stream are not silently ignored.
        var padded = try dump(model, compression: .zstd(level: 1))
        padded.append(contentsOf: [1, 2, 3])
        #expect(persistenceErrorCode { _ = try load(GoldenModel.self, from: padded) } == .decompressionFailed)

        var newer = [UInt8](try dump(model))
        newer[8] = 9
        ContainerSurgery.repairChecksums(&newer)
        do {
            _ = try load(GoldenModel.self, from: Data(newer))
            Issue.record("a newer version loaded")
        } catch let error as PersistenceError {
            #expect(error.code == .newerFormatVersion && error.message.contains("version 9"))
        }
    }

    /// Loads from a file hash the sections while reading (on a second thread once the sections
    /// reach 32 MiB): a file of several large sections loads right, and damage to any of them is
    /// still caught. The arrays are filled, compared and damaged in place, not through copies of
    /// 40 MB element by element (a debug build took the 60 s limit once at a high load average).
    @Test func sectionsHashedWhileReadingAreChecked() throws {
        struct Arrays: Codable {
            var doubles: NDArray<Double>
            var floats: NDArray<Float>
            var small: [Double]
        }
        var doubles = NDArray<Double>(repeating: 0, shape: [3_000_000])  // 24 MB
        doubles.withUnsafeMutableBufferPointer { for i in $0.indices { $0[i] = Double(i) * 0.5 } }
        var floats = NDArray<Float>(repeating: 0, shape: [2_000, 2_000])  // 16 MB
        floats.withUnsafeMutableBufferPointer { for i in $0.indices { $0[i] = Float(i % 1000) } }
        let value = Arrays(doubles: doubles, floats: floats, small: (0..<100).map(Double.init))
        let scratch = try Scratch()
        let path = scratch.path("arrays.joblib")
        try dump(value, to: path, durable: false)
        let loaded = try load(Arrays.self, from: path)
        #expect(loaded.doubles.shape == doubles.shape && Self.sameBytes(loaded.doubles, doubles))
        #expect(loaded.floats.shape == floats.shape && Self.sameBytes(loaded.floats, floats))
        #expect(loaded.small == value.small)

        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let table = Int(ContainerSurgery.readU64(bytes, ContainerSurgery.trailer(bytes) + 16))
        let count = Int(ContainerSurgery.readU64(bytes, ContainerSurgery.trailer(bytes) + 24))
        #expect(count == 3)
        let sectionsEnd = (0..<count).map {
            Int(ContainerSurgery.readU64(bytes, table + $0 * 48) + ContainerSurgery.readU64(bytes, table + $0 * 48 + 8))
        }.max() ?? 0
        #expect(sectionsEnd >= 32 << 20, "the sections end at \(sectionsEnd): below what is hashed on a second thread")
        let file = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        defer { try? file.close() }
        func put(_ byte: UInt8, at offset: Int) throws {
            try file.seek(toOffset: UInt64(offset))
            try file.write(contentsOf: [byte])
        }
        for index in 0..<count {
            let offset = Int(ContainerSurgery.readU64(bytes, table + index * 48))
            let length = Int(ContainerSurgery.readU64(bytes, table + index * 48 + 8))
            for at in [offset, offset + length / 2, offset + length - 1] {
                try put(bytes[at] ^ 0x10, at: at)
                #expect(persistenceErrorCode { _ = try load(Arrays.self, from: path) } == .checksumMismatch, "section \(index) byte \(at)")
                try put(bytes[at], at: at)
            }
        }
    }

    /// Whether two arrays hold the same bytes (a debug build compares 4 million elements one at a
    /// time slowly).
    private static func sameBytes<Element>(_ a: NDArray<Element>, _ b: NDArray<Element>) -> Bool {
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                a.count == b.count && (a.isEmpty || memcmp(a.baseAddress!, b.baseAddress!, a.count * MemoryLayout<Element>.stride) == 0)
            }
        }
    }

    /// Decompression bombs: a compressed container that declares more than the load accepts is
    /// refused before it is decompressed (`tooLarge`); one that fits loads, allocated once.
    @Test(arguments: [Compression.zlib(level: 3), .gzip(level: 3), .bz2(level: 3), .xz(level: 3), .lzma(level: 3), .lz4(level: 0), .zstd(level: 3)])
    func decompressionStopsAtTheLimit(compression: Compression) throws {
        let zeros = NDArray<Double>(shape: [4_000_000], [Double](repeating: 0, count: 4_000_000))  // 32 MB
        let compressed = try dump(zeros, compression: compression)
        let containerSize = try dump(zeros).count
        #expect(compressed.count * 100 < containerSize, "\(compression): \(compressed.count) bytes")
        #expect(persistenceErrorCode { _ = try load(NDArray<Double>.self, from: compressed, maximumSize: .megabytes(1)) } == .tooLarge)
        #expect(persistenceErrorCode { _ = try load(NDArray<Double>.self, from: compressed, maximumSize: .bytes(containerSize - 1)) } == .tooLarge)
        let exact = try load(NDArray<Double>.self, from: compressed, maximumSize: .bytes(containerSize))
        #expect(exact.count == zeros.count && exact.allSatisfy { $0 == 0 })
        #expect(try load(NDArray<Double>.self, from: compressed).count == zeros.count)
        #expect(defaultMaximumLoadSize.bytes > 1 << 30)
    }
}
