#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The content of an entry's `metadata.json`, for people and tools that look inside the cache.
///
/// The cache itself never needs it to answer a call: hits read only the output file, expiry uses
/// the output file's modification time and eviction its access time (see CacheLayout.md).
struct EntryMetadata {
    /// The function's name and version.
    var function: String
    var version: Int
    /// Seconds the call took.
    var duration: Double
    /// When the result was stored, in seconds since 1970.
    var time: Double
    /// The arguments as a JSON object text, `{"0": …}`; large values are summarised.
    var inputArguments: String

    /// The JSON text. `last_access` is the time of writing; later accesses update the output
    /// file's access time instead of rewriting this file.
    var json: String {
        """
        {"function": \(jsonString(function)), "version": \(version), "duration": \(number(duration)), \
        "time": \(number(time)), "last_access": \(number(time)), "input_args": \(inputArguments)}

        """
    }

    private func number(_ value: Double) -> String {
        value.isFinite ? "\(value)" : "0"
    }

    private func jsonString(_ text: String) -> String {
        let data = (try? JSONEncoder().encode(text)) ?? Data("\"\"".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
