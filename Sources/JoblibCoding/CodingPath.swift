/// A coding path that costs nothing until someone reads it.
///
/// Coders pass paths to every value they code, but only errors and the rare `init(from:)` that
/// asks for `codingPath` read them. Keeping the last key apart, and the keys before it in a shared
/// list of nodes, means that coding an array of records allocates no path storage per element:
/// a container takes its node once (``childParent``) and every child path points at it. An array
/// index, the most common last key, is kept as a plain number.
struct CodingPath {
    /// The keys before the last, innermost first; shared by every path with the same parent.
    var parent: PathNode?
    /// The last key, unless it is an array index.
    private var lastKey: (any CodingKey)?
    /// The last key as an array index, or -1.
    private var lastIndex: Int

    static var root: CodingPath { CodingPath(parent: nil, index: -1) }

    init(parent: PathNode?, last: (any CodingKey)?) {
        self.parent = parent
        lastKey = last
        lastIndex = -1
    }

    /// The path of element `index` of the container whose path node is `parent`.
    init(parent: PathNode?, index: Int) {
        self.parent = parent
        lastKey = nil
        lastIndex = index
    }

    init(_ keys: [any CodingKey]) {
        var node: PathNode?
        for key in keys { node = PathNode(parent: node, key: key) }
        self.init(parent: node, last: nil)
    }

    private var last: (any CodingKey)? {
        if let lastKey { return lastKey }
        return lastIndex >= 0 ? IndexKey(lastIndex) : nil
    }

    var keys: [any CodingKey] {
        var keys: [any CodingKey] = []
        if let last { keys.append(last) }
        var node = parent
        while let current = node {
            keys.append(current.key)
            node = current.parent
        }
        keys.reverse()
        return keys
    }

    /// The parent node of this path's children: take it once per container that has many.
    var childParent: PathNode? {
        guard let last else { return parent }
        return PathNode(parent: parent, key: last)
    }

    func appending(_ key: any CodingKey) -> CodingPath { CodingPath(parent: childParent, last: key) }
}

/// One key of a shared coding path prefix.
final class PathNode {
    let parent: PathNode?
    let key: any CodingKey

    init(parent: PathNode?, key: any CodingKey) {
        self.parent = parent
        self.key = key
    }
}
