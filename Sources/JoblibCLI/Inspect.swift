import ArgumentParser
import JoblibPersistence
import SystemPackage

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what a file saved with dump(_:to:) (or Python's joblib.dump) holds, and verify its checksums.",
        discussion: """
            Prints the container format version, the compression, the layout of the stored \
            value (structs, lists, strings, numbers), every numeric array with its dtype, shape \
            and size, and the result of checking every checksum. Nothing in the file is \
            executed or trusted. Exits with status 1 when the file is damaged. A file written by \
            Python's joblib.dump is shown as a tree of types, array dtypes and shapes, and \
            objects by class name (never constructed), with its compression and pickle protocol.
            """)

    @Argument(help: "A file written by dump(_:to:) or Python's joblib.dump, compressed or not.", completion: .file())
    var file: String

    @OptionGroup var output: OutputOptions

    func run() throws {
        try requireFile(file)
        // A file of Python's joblib.dump (InspectPython.swift).
        if isPythonJoblibFile(at: FilePath(file)) { return try inspectPythonJoblib(file, json: output.json) }
        let report: ContainerReport
        do {
            report = try inspectContainer(at: FilePath(file))
        } catch {
            throw ToolError(error, doing: "inspect \(file)")
        }
        if output.json {
            try printJSON(InspectJSON(file: file, report: report))
        } else {
            printText(report)
        }
        if !report.checksumsVerified { throw ExitCode.failure }
    }

    func printText(_ report: ContainerReport) {
        print("\(file): swift-joblib container, format version \(report.formatVersion)")
        let compression = report.compression == "none"
            ? "none (arrays can be memory-mapped)"
            : "\(report.compression), \(bytesText(report.containerBytes)) when decompressed (cannot be memory-mapped)"
        if let typeName = report.typeName { print("  type:        \(typeName)") }
        print("  size:        \(bytesText(report.fileBytes)) on disk")
        print("  compression: \(compression)")
        print("  value:       \(bytesText(report.valueBytes)) encoded, \(report.sections.count) array section\(report.sections.count == 1 ? "" : "s")")
        print("")
        print("layout")
        printLayout(report.layout, indent: "  ")
        print("")
        if report.arrays.isEmpty {
            print("arrays: none")
        } else {
            print("arrays")
            let width = min(40, report.arrays.map(\.path.count).max() ?? 0)
            for array in report.arrays {
                let place = array.section.map { "section \($0)" } ?? "inline"
                print("  \(padded(array.path, width))  \(padded(array.dtype, 7))  \(padded("\(array.shape)", 14))  \(padded(bytesText(array.bytes), 10))  \(place)")
            }
        }
        print("")
        let failed = report.sections.filter { $0.checksum == .mismatch }
        if report.checksumsStale {
            print("checksums: header and value OK; array checksums not checked (the file was changed in place through a .readWrite mapping)")
        } else if failed.isEmpty {
            print("checksums: OK (trailer, value and table, \(report.sections.count) array section\(report.sections.count == 1 ? "" : "s"))")
        } else {
            print("checksums: FAILED for section\(failed.count == 1 ? "" : "s") \(failed.map { String($0.index) }.joined(separator: ", ")): the file is corrupt")
        }
    }

    func printLayout(_ node: ValueLayout, indent: String) {
        let label = node.key.map { "\($0): " } ?? ""
        print("\(indent)\(label)\(node.kind) \(node.summary)")
        for child in node.children { printLayout(child, indent: indent + "  ") }
        if node.omittedChildren > 0 { print("\(indent)  … \(node.omittedChildren) more") }
    }
}

/// `joblib inspect --json`: the report with the file name and one verdict.
private struct InspectJSON: Encodable {
    var file: String
    var report: ContainerReport

    private enum CodingKeys: String, CodingKey {
        case file, formatVersion, typeName, compression, fileBytes, containerBytes, valueBytes, checksumsStale
        case checksumsVerified, contentDigest, sections, arrays, layout
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(file, forKey: .file)
        try container.encode(report.formatVersion, forKey: .formatVersion)
        try container.encodeIfPresent(report.typeName, forKey: .typeName)
        try container.encode(report.compression, forKey: .compression)
        try container.encode(report.fileBytes, forKey: .fileBytes)
        try container.encode(report.containerBytes, forKey: .containerBytes)
        try container.encode(report.valueBytes, forKey: .valueBytes)
        try container.encode(report.checksumsStale, forKey: .checksumsStale)
        try container.encode(report.checksumsVerified, forKey: .checksumsVerified)
        try container.encode(report.contentDigest, forKey: .contentDigest)
        try container.encode(report.sections, forKey: .sections)
        try container.encode(report.arrays, forKey: .arrays)
        try container.encode(report.layout, forKey: .layout)
    }
}
