// `joblib`: look inside what swift-joblib writes (README, "The joblib tool").
import ArgumentParser

@main
struct JoblibCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "joblib",
        abstract: "Look inside the files and caches that swift-joblib writes.",
        discussion: """
            Files saved with dump(_:to:) can be examined without the Swift type they hold: \
            `joblib inspect` shows their format, compression, arrays and checksums. Caches made \
            by Memory(location:) can be listed, trimmed and cleared with `joblib cache`. \
            Commands that a script would read take --json.

            Exit status: 0 on success, 1 when a file is damaged or a command fails, 64 for \
            invalid arguments.
            """,
        subcommands: [Inspect.self, Hash.self, Cache.self])
}
