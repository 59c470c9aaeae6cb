import Foundation
import Testing

/// The loop every loader fuzzer shares: a seed from `JOBLIB_FUZZ_SEED` (or a random one, printed
/// so that a failure can be replayed), inputs mutated from a corpus until a deadline, and each
/// load's outcome sorted: success, an error of the expected type (counted by code), or anything
/// else, which is recorded as a failure naming the seed and iteration.
public struct FuzzLoop<Failure: Error> {
    public let seed: UInt64
    public var random: SeededGenerator
    public private(set) var iterations = 0
    public private(set) var loaded = 0
    public private(set) var codes: [String: Int] = [:]
    private let code: (Failure) -> String

    /// - Parameter code: The stable code of an expected error, for the summary.
    public init(_ failure: Failure.Type, code: @escaping (Failure) -> String) {
        seed = UInt64(ProcessInfo.processInfo.environment["JOBLIB_FUZZ_SEED"] ?? "") ?? UInt64.random(in: 0 ... .max)
        random = SeededGenerator(seed: seed)
        self.code = code
    }

    /// Calls `body` once per input until `seconds` have passed.
    public mutating func run(seconds: Double, _ body: (inout FuzzLoop) throws -> Void) rethrows {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            iterations += 1
            try body(&self)
        }
    }

    /// Runs one load: success and `Failure` are both fine (counted); any other error is a failure.
    public mutating func attempt(_ load: () throws -> Void) {
        do {
            try load()
            loaded += 1
        } catch let error as Failure {
            codes[code(error), default: 0] += 1
        } catch {
            Issue.record("seed \(seed) iteration \(iterations): \(type(of: error)) is not a \(Failure.self): \(error)")
        }
    }

    /// Applies one to four mutations to `bytes`: a flipped bit, a random byte, an `interesting`
    /// value written over 1, 2, 4 or 8 bytes (little-endian), a cut tail, a splice of up to 256
    /// bytes copied elsewhere, or one of the format's own `extra` mutations.
    public mutating func mutate(
        _ bytes: inout [UInt8], interesting: [UInt64], extra: [(inout [UInt8], inout SeededGenerator) -> Void] = []
    ) {
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            guard !bytes.isEmpty else { return }
            let at = Int.random(in: 0..<bytes.count, using: &random)
            switch Int.random(in: 0..<(5 + extra.count), using: &random) {
            case 0: bytes[at] ^= 1 << UInt8.random(in: 0...7, using: &random)
            case 1: bytes[at] = UInt8.random(in: 0...255, using: &random)
            case 2:
                let width = [1, 2, 4, 8].randomElement(using: &random)!
                let value = Bool.random(using: &random)
                    ? interesting.randomElement(using: &random)!
                    : UInt64.random(in: 0...UInt64(bytes.count) * 2, using: &random)
                for index in 0..<width where at + index < bytes.count {
                    bytes[at + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index)))
                }
            case 3: bytes.removeLast(Int.random(in: 0...bytes.count, using: &random))
            case 4:
                let length = Int.random(in: 0...min(256, bytes.count - at), using: &random)
                bytes.insert(contentsOf: bytes[at..<at + length], at: Int.random(in: 0...bytes.count, using: &random))
            case let other: extra[other - 5](&bytes, &random)
            }
        }
    }

    /// `<name>: seed …, N inputs in S s, L loaded, errors by code: …`.
    public func summary(_ name: String, seconds: Double) -> String {
        "\(name): seed \(seed), \(iterations) inputs in \(seconds) s, \(loaded) loaded, errors by code: \(codes.sorted { $0.key < $1.key })"
    }
}
