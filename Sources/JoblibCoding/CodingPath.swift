/// A coding path that costs nothing until someone reads it.
///
/// Coders pass paths to every value they code, but only errors and the rare `init(from:)` that
/// asks for `codingPath` read them. Keeping the last key apart means that coding an array of
/// records allocates no path arrays at all.
struct CodingPath {
    var parent: [any CodingKey]
    var last: (any CodingKey)?

    static let root = CodingPath([])

    init(parent: [any CodingKey], last: (any CodingKey)?) {
        self.parent = parent
        self.last = last
    }

    init(_ keys: [any CodingKey]) {
        parent = keys
        last = nil
    }

    var keys: [any CodingKey] {
        guard let last else { return parent }
        return parent + [last]
    }

    func appending(_ key: any CodingKey) -> CodingPath { CodingPath(parent: keys, last: key) }
}
