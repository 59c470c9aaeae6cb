import JoblibPersistence
import JoblibPickle
import SystemPackage

/// `joblib inspect` for a file of Python's `joblib.dump`: the pickle read as inert data, shown as
/// a tree (types, array dtypes and shapes, objects by class name), with compression and protocol.
func inspectPythonJoblib(_ file: String, json: Bool) throws {
    let content: PythonJoblibFile
    do {
        content = try readPythonJoblib(at: FilePath(file))
    } catch {
        throw ToolError(error, doing: "inspect \(file)")
    }
    let tree = PythonTreeNode(content.value, key: nil, depth: 0)
    if json {
        try printJSON(PythonInspectJSON(
            file: file, format: "python-joblib", pickleProtocol: content.protocolVersion,
            compression: content.compression.rawValue, fileBytes: content.fileSize, value: tree))
        return
    }
    print("\(file): Python joblib file (pickle protocol \(content.protocolVersion)), read as data: nothing was imported or run")
    print("  size:        \(bytesText(content.fileSize)) on disk")
    print("  compression: \(content.compression == .none ? "none (arrays can be memory-mapped)" : "\(content.compression.rawValue) (cannot be memory-mapped)")")
    print("")
    print("value")
    tree.print(indent: "  ")
}

/// One line of the tree: a key, a type, a summary, and children.
struct PythonTreeNode: Encodable {
    var key: String?
    var type: String
    var summary: String
    var dtype: String?
    var shape: [Int]?
    var children: [PythonTreeNode] = []
    var omittedChildren = 0

    static let maxChildren = 50

    init(_ value: PythonValue, key: String?, depth: Int) {
        self.key = key
        type = value.typeName
        summary = ""
        func add(_ entries: [(String?, PythonValue)]) {
            guard depth < 64 else {
                omittedChildren = entries.count
                return
            }
            children = entries.prefix(Self.maxChildren).map { PythonTreeNode($0.1, key: $0.0, depth: depth + 1) }
            omittedChildren = max(0, entries.count - Self.maxChildren)
        }
        switch value {
        case .list(let items), .tuple(let items), .set(let items), .frozenSet(let items):
            summary = "(\(items.count) item\(items.count == 1 ? "" : "s"))"
            add(items.enumerated().map { ("[\($0.offset)]", $0.element) })
        case .dict(let entries):
            summary = "(\(entries.count) entr\(entries.count == 1 ? "y" : "ies"))"
            add(entries.map { (Self.keyText($0.key), $0.value) })
        case .array(let array):
            type = array.className
            dtype = array.dtype.description
            shape = array.shape
            let layout = array.isFortranOrder && array.shape.count > 1 ? ", Fortran order" : ""
            summary = "\(array.dtype) \(array.shape)\(layout), \(bytesText(array.count * array.dtype.itemSize))"
        case .numpyScalar(let array):
            dtype = array.dtype.description
            summary = array.elements.first?.description ?? ""
        case .object(let object):
            summary = "object (not constructed)"
            var entries: [(String?, PythonValue)] = object.arguments.enumerated().map { ("args[\($0.offset)]", $0.element) }
            entries += object.keywordArguments.map { ("kwargs." + Self.keyText($0.key), $0.value) }
            if let state = object.state {
                if case .dict(let attributes) = state {
                    entries += attributes.map { (Self.keyText($0.key), $0.value) }
                } else {
                    entries.append(("state", state))
                }
            }
            entries += object.listItems.enumerated().map { ("items[\($0.offset)]", $0.element) }
            entries += object.dictItems.map { ("entries." + Self.keyText($0.key), $0.value) }
            add(entries)
        case .global(let module, let name):
            summary = "\(module).\(name) (a reference, not imported)"
        case .string(let text):
            summary = text.count > 60 ? PythonValue.string(String(text.prefix(60))).description + "…" : value.description
        default:
            let text = value.description
            summary = text.count > 80 ? String(text.prefix(80)) + "…" : text
        }
    }

    static func keyText(_ key: PythonValue) -> String {
        if case .string(let text) = key { return text }
        return key.description
    }

    func print(indent: String) {
        let label = key.map { "\($0): " } ?? ""
        Swift.print("\(indent)\(label)\(type) \(summary)")
        for child in children { child.print(indent: indent + "  ") }
        if omittedChildren > 0 { Swift.print("\(indent)  … \(omittedChildren) more") }
    }
}

/// `joblib inspect --json` for a Python joblib file.
private struct PythonInspectJSON: Encodable {
    var file: String
    var format: String
    var pickleProtocol: Int
    var compression: String
    var fileBytes: Int
    var value: PythonTreeNode
}
