import Foundation
import JoblibPickle
import Testing

/// Each bound of `PickleLimits`, at a small setting.
@Suite struct PickleLimitsTests {
    private func read(_ bytes: [UInt8], _ limits: PickleLimits) -> PickleError.Code? {
        do {
            _ = try bytes.withUnsafeBytes { try PickleReader.read($0, owner: nil, limits: limits) }
            return nil
        } catch let error as PickleError {
            return error.code
        } catch {
            Issue.record("\(type(of: error)) is not a PickleError")
            return nil
        }
    }

    @Test func memoEntries() {
        var limits = PickleLimits()
        limits.maxMemoEntries = 10
        let pickle: [UInt8] = [0x80, 4, 0x4E] + [UInt8](repeating: 0x94, count: 11) + [0x2E]  // NONE, 11 × MEMOIZE
        #expect(read(pickle, limits) == .limitExceeded)
        #expect(read([0x80, 4, 0x4E] + [UInt8](repeating: 0x94, count: 10) + [0x2E], limits) == nil)
    }

    @Test func allocation() {
        var limits = PickleLimits()
        limits.maxAllocation = 4096
        let big: [UInt8] = [0x80, 4, 0x42] + [0x00, 0x20, 0, 0] + [UInt8](repeating: 0x41, count: 8192) + [0x2E]  // 8 KiB bytes
        #expect(read(big, limits) == .limitExceeded)
        let many: [UInt8] = [0x80, 4, 0x5D, 0x28] + [UInt8](repeating: 0x4E, count: 200) + [0x65, 0x2E]  // 200 × None in a list
        #expect(read(many, limits) == .limitExceeded)
        #expect(read(many, PickleLimits()) == nil)
    }

    @Test func depth() {
        var limits = PickleLimits()
        limits.maxDepth = 3
        func nested(_ depth: Int) -> [UInt8] {
            [0x80, 4] + [UInt8](repeating: 0x5D, count: depth) + [UInt8](repeating: 0x61, count: depth - 1) + [0x2E]
        }
        #expect(read(nested(4), limits) == nil)
        #expect(read(nested(5), limits) == .limitExceeded)
    }

    @Test func decodedValues() throws {
        var limits = PickleLimits()
        limits.maxDecodedValues = 100
        // (x, x) nested 30 times: 2^30 leaves when walked; decoding counts each visit.
        var bytes: [UInt8] = [0x80, 4, 0x4E]
        for _ in 0..<30 { bytes += [0x32, 0x86] }
        bytes += [0x2E]
        let value = try bytes.withUnsafeBytes { try PickleReader.read($0, owner: nil).value }
        struct Tree: Decodable {
            var children: [Tree?]
            init(from decoder: any Decoder) throws {
                var container = try decoder.unkeyedContainer()
                var items: [Tree?] = []
                while !container.isAtEnd { items.append(try container.decode(Tree?.self)) }
                children = items
            }
        }
        do {
            _ = try PythonDecoding.decode(Tree.self, from: value, limits: limits)
            Issue.record("decoded past the limit")
        } catch let error as PickleError {
            #expect(error.code == .limitExceeded, "\(error)")
        }
        var generous = PickleLimits()
        generous.maxDecodedValues = 1 << 20
        var small: [UInt8] = [0x80, 4, 0x4E]
        for _ in 0..<8 { small += [0x32, 0x86] }
        small += [0x2E]
        let tree = try small.withUnsafeBytes { try PickleReader.read($0, owner: nil).value }
        #expect(try PythonDecoding.decode(Tree.self, from: tree, limits: generous).children.count == 2)
    }
}
