import ArgumentParser
import Foundation
import JoblibMemory
import SystemPackage

struct Cache: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Look after a cache made by Memory(location:).",
        discussion: """
            DIR is the directory given to Memory(location:); its entries live in DIR/joblib/. \
            Other directories are refused, so prune and clear never remove anything else.
            """,
        subcommands: [Info.self, List.self, Prune.self, Clear.self])
}

/// The cache directory argument shared by the cache commands.
struct CacheDirectory: ParsableArguments {
    @Argument(help: "The cache directory (the one given to Memory(location:)).", completion: .directory)
    var directory: String

    func scan() throws -> CacheReport {
        do {
            return try scanCache(location: FilePath(directory))
        } catch {
            throw ToolError(error, doing: "read the cache \(directory)")
        }
    }
}

extension Cache {
    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Summarise a cache: its functions, entry counts, sizes and last access.")

        @OptionGroup var cache: CacheDirectory
        @OptionGroup var output: OutputOptions

        func run() throws {
            let report = try cache.scan()
            if output.json {
                try printJSON(InfoJSON(report))
                return
            }
            print("\(report.location): \(report.entryCount) entr\(report.entryCount == 1 ? "y" : "ies"), \(bytesText(report.totalBytes)), \(report.functions.count) function\(report.functions.count == 1 ? "" : "s")")
            guard !report.functions.isEmpty else { return }
            let width = max(8, report.functions.map(\.name.count).max() ?? 0)
            print("  \(padded("function", width))  version  entries  size        last access")
            for function in report.functions {
                let version = function.version.map(String.init) ?? "?"
                print("  \(padded(function.name, width))  \(padded(version, 7))  \(padded(String(function.entries.count), 7))  \(padded(bytesText(function.totalBytes), 10))  \(agoText(function.lastAccess))")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the entries of a cache, most recently used first.",
            discussion: "Each entry is one call's stored result: its key (the argument hash), size, age, the call's duration and its arguments.")

        @OptionGroup var cache: CacheDirectory

        @Option(name: .customLong("function"), help: "Only this function's entries.")
        var function: String?

        @Option(help: "Show at most this many entries per function (all with --json).")
        var limit = 20

        @OptionGroup var output: OutputOptions

        func run() throws {
            let report = try cache.scan()
            var functions = report.functions
            if let function {
                functions = functions.filter { $0.name == function || $0.directory == function }
                guard !functions.isEmpty else {
                    throw ToolError("the cache \(report.location) has no function named '\(function)'")
                }
            }
            if output.json {
                try printJSON(functions)
                return
            }
            for function in functions {
                print("\(function.name) (version \(function.version.map(String.init) ?? "?")): \(function.entries.count) entr\(function.entries.count == 1 ? "y" : "ies"), \(bytesText(function.totalBytes))")
                for entry in function.entries.prefix(max(limit, 0)) {
                    let duration = entry.duration.map { String(format: "%.3f s", $0) } ?? "?"
                    var arguments = entry.arguments ?? "?"
                    if arguments.count > 60 { arguments = String(arguments.prefix(57)) + "…" }
                    let state = entry.complete ? "" : "  (incomplete: no output)"
                    print("  \(entry.key)  \(padded(bytesText(entry.bytes), 10))  used \(padded(agoText(entry.lastAccess), 12))  took \(padded(duration, 9))  \(arguments)\(state)")
                }
                if function.entries.count > limit { print("  … \(function.entries.count - limit) more (--limit)") }
            }
        }
    }

    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Evict least recently used entries until the cache is within limits.",
            discussion: """
                Entries are removed oldest access first until every limit given holds, as \
                Memory.reduceSize(bytesLimit:itemsLimit:ageLimit:) does. Sizes take K, M, G or T \
                (binary units); ages take s, m, h, d or w. Example: \
                `joblib cache prune ./cache --max-size 500M --max-age 30d`.
                """)

        @OptionGroup var cache: CacheDirectory

        @Option(help: "Keep at most this many bytes (e.g. 500M, 2G).")
        var maxSize: SizeArgument?

        @Option(help: "Keep at most this many entries.")
        var maxEntries: Int?

        @Option(help: "Remove entries not used for this long (e.g. 12h, 30d).")
        var maxAge: AgeArgument?

        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard maxSize != nil || maxEntries != nil || maxAge != nil else {
                throw ValidationError("give at least one limit: --max-size, --max-entries or --max-age")
            }
            if let maxEntries, maxEntries < 0 { throw ValidationError("--max-entries cannot be negative") }
        }

        func run() throws {
            let removal: CacheRemoval
            do {
                removal = try pruneCache(
                    location: FilePath(cache.directory), bytesLimit: maxSize?.bytes, itemsLimit: maxEntries, ageLimit: maxAge?.seconds)
            } catch {
                throw ToolError(error, doing: "prune the cache \(cache.directory)")
            }
            try report(removal, json: output.json, directory: cache.directory)
        }
    }

    struct Clear: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove every entry of a cache, or of one function.")

        @OptionGroup var cache: CacheDirectory

        @Option(name: .customLong("function"), help: "Only this function's entries.")
        var function: String?

        @OptionGroup var output: OutputOptions

        func run() throws {
            let removal: CacheRemoval
            do {
                removal = try clearCache(location: FilePath(cache.directory), function: function)
            } catch {
                throw ToolError(error, doing: "clear the cache \(cache.directory)")
            }
            try report(removal, json: output.json, directory: cache.directory)
        }
    }
}

/// What a prune or clear did, in one line or JSON.
private func report(_ removal: CacheRemoval, json: Bool, directory: String) throws {
    if json {
        try printJSON(removal)
        return
    }
    let left = removal.entriesBefore - removal.removedEntries
    print("\(directory): removed \(removal.removedEntries) entr\(removal.removedEntries == 1 ? "y" : "ies") (\(bytesText(removal.removedBytes))); \(left) left (\(bytesText(removal.bytesBefore - removal.removedBytes)))")
}

/// `joblib cache info --json`: totals and one summary per function, without the entries.
private struct InfoJSON: Encodable {
    struct Function: Encodable {
        var name: String
        var version: Int?
        var entries: Int
        var bytes: Int
        var lastAccess: Double?
    }
    var location: String
    var entries: Int
    var bytes: Int
    var functions: [Function]

    init(_ report: CacheReport) {
        location = report.location
        entries = report.entryCount
        bytes = report.totalBytes
        functions = report.functions.map {
            Function(name: $0.name, version: $0.version, entries: $0.entries.count, bytes: $0.totalBytes, lastAccess: $0.lastAccess)
        }
    }
}
