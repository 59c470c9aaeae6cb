import ArgumentParser
import Foundation
import JoblibMemory
import JoblibPersistence
import JoblibSystem
import JoblibTypes

/// An error the tool reports in one sentence (ArgumentParser prints it after `Error: `).
struct ToolError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }

    /// A library error as a sentence a user can act on: what, where, and the stable code.
    init(_ error: any Error, doing action: String) {
        // A message that already names the file says what failed: it is not prefixed again.
        func sentence(_ message: String, path: String?) -> String {
            if let path, message.contains(path) { return message }
            return "cannot \(action): \(message)"
        }
        switch error {
        case let error as PersistenceError:
            description = "\(sentence(error.message, path: error.path)) [\(error.code)]"
        case let error as MemoryError:
            description = "\(sentence(error.message, path: error.path)) [\(error.code)]"
        default:
            description = "cannot \(action): \(error)"
        }
    }
}

/// Options shared by the commands that print a result.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print JSON instead of text, for scripts.")
    var json = false
}

/// Prints `value` as pretty JSON with sorted keys.
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// Fails with a clear message unless `path` names an existing regular file.
func requireFile(_ path: String) throws {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw ToolError("no such file: \(path)")
    }
    guard !isDirectory.boolValue else { throw ToolError("\(path) is a directory, not a file") }
}

/// A byte count as people write it: `500`, `64K`, `200M`, `10G` (binary units, as `du`).
struct SizeArgument: ExpressibleByArgument {
    var bytes: Int

    init?(argument: String) {
        let text = argument.uppercased().replacingOccurrences(of: "IB", with: "").replacingOccurrences(of: "B", with: "")
        let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        var digits = Substring(text)
        var scale = 1
        if let last = digits.last, let unit = units[last] {
            scale = unit
            digits = digits.dropLast()
        }
        guard let value = Double(digits), value >= 0, value * Double(scale) < 9e18 else { return nil }
        bytes = Int(value * Double(scale))
    }

    static var defaultValueDescription: String { "size" }
}

/// A duration as people write it: `90s`, `30m`, `12h`, `7d`, `2w`.
struct AgeArgument: ExpressibleByArgument {
    var seconds: Double

    init?(argument: String) {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800]
        guard let last = argument.last, let unit = units[last], let value = Double(argument.dropLast()), value >= 0 else {
            return nil
        }
        seconds = value * unit
    }
}

/// `3.2 MiB`.
func bytesText(_ bytes: Int) -> String { "\(ByteCount(bytes: max(bytes, 0)))" }

/// How long ago a time (seconds since 1970) was: `just now`, `5 min ago`, `3 days ago`.
func agoText(_ time: Double?) -> String {
    guard let time, time > 0 else { return "never" }
    let seconds = Date().timeIntervalSince1970 - time
    switch seconds {
    case ..<60: return "just now"
    case ..<3_600: return "\(Int(seconds / 60)) min ago"
    case ..<86_400: return "\(Int(seconds / 3_600)) h ago"
    default: return "\(Int(seconds / 86_400)) days ago"
    }
}

/// `text` padded with spaces to `width` characters.
func padded(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}
