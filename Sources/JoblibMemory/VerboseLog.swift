#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// joblib's `[Memory]` trace lines on standard output, so that people (and their grep) find
/// what they know: level 1 prints each computation, level 2 and up also each load.
struct VerboseLog: Sendable {
    var level: Int

    /// Before computing: a rule, `[Memory] Calling name...` and the call with its arguments.
    func calling(_ name: String, arguments: @autoclosure () -> String) {
        guard level >= 1 else { return }
        print(String(repeating: "_", count: 80))
        print("[Memory] Calling \(name)...")
        print("\(name)(\(arguments()))")
    }

    /// After computing: `____name - 1.2s, 0.0min`, right-aligned to 80 columns.
    func computed(_ name: String, seconds: Double) {
        guard level >= 1 else { return }
        let message = "\(name) - \(Self.format(seconds))"
        print(String(repeating: "_", count: max(0, 80 - message.count)) + message)
    }

    /// On a hit: `[Memory]0.0s, 0.0min    : Loading name...` (level 2 and up; level 10 adds the path).
    func loaded(_ name: String, seconds: Double, path: String) {
        guard level > 1 else { return }
        let from = level >= 10 ? " from \(path)" : ""
        print("[Memory]\(Self.format(seconds))    : Loading \(name)\(from)...")
    }

    /// `1.2s, 0.0min`, as joblib's `format_time`.
    static func format(_ seconds: Double) -> String {
        "\(oneDecimal(seconds))s, \(oneDecimal(seconds / 60))min"
    }

    private static func oneDecimal(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(abs(tenths % 10))"
    }
}
