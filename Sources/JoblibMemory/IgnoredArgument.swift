/// An argument, or a part of one, that does not take part in a cached function's key.
///
/// Swift closures have no argument names at run time, so arguments are named by position, and
/// the fields of a struct of arguments by their coding keys (usually the property names):
///
/// ```swift
/// struct Query: Codable, Sendable { var path: String; var verbose: Bool }
/// let load = memory.cache(name: "load", ignore: ["verbose"]) { (q: Query) in ... }   // a field
/// let fit = memory.cache(name: "fit", ignore: [.argument(1)]) { (x: [Double], log: Bool) in ... }
/// ```
///
/// Calls that differ only in ignored arguments share one entry. An ignored name that no keyed
/// argument has, or a position that is negative or past the last argument, is an error
/// (`invalidArgument`) on the first call rather than a silently useless ignore.
public struct IgnoredArgument: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    enum Kind: Hashable, Sendable {
        case position(Int)
        case field(String)
    }

    let kind: Kind

    /// The whole argument at `position` (0 is the first).
    ///
    /// A position often comes from configuration, so a negative one does not trap here: the
    /// cached function's first call throws `MemoryError.invalidArgument`, as for a position
    /// past its last argument.
    public static func argument(_ position: Int) -> IgnoredArgument {
        IgnoredArgument(kind: .position(position))
    }

    /// The top-level field `name` (a coding key) of every keyed argument, such as a struct.
    public static func field(_ name: String) -> IgnoredArgument { IgnoredArgument(kind: .field(name)) }

    /// A field name: `ignore: ["verbose"]` is `ignore: [.field("verbose")]`.
    public init(stringLiteral value: String) { kind = .field(value) }

    init(kind: Kind) { self.kind = kind }

    /// How the argument is named in messages.
    public var description: String {
        switch kind {
        case .position(let index): "argument \(index)"
        case .field(let name): "field '\(name)'"
        }
    }
}
