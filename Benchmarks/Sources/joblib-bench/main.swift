import Foundation

// Every workload, in the order they run by default. Each part of the library adds its own list.
// A child process of the cold-start workload.
if ProcessInfo.processInfo.environment["JOBLIB_BENCH_CHILD"] == "cold-start" {
    try runColdStartChild()
    exit(0)
}

let allWorkloads: [Workload] = codingWorkloads + parallelWorkloads + processWorkloads + persistenceWorkloads + pythonJoblibWorkloads + memoryWorkloads + daskWorkloads + rayWorkloads + rayLargeArgumentWorkloads

var arguments = Array(CommandLine.arguments.dropFirst())
let json = arguments.contains("--json")
let table = arguments.contains("--table")
arguments.removeAll { $0 == "--json" || $0 == "--table" }
if arguments.contains("--help") || arguments.contains("-h") {
    print("usage: joblib-bench [--json | --table] [WORKLOAD...]\n\n--table ends with one Markdown table beside joblib and the targets.\n\nworkloads:")
    for workload in allWorkloads { print("  \(workload.name.padding(toLength: 24, withPad: " ", startingAt: 0)) \(workload.summary)") }
    exit(0)
}
let unknown = arguments.filter { name in !allWorkloads.contains { $0.name == name } }
if !unknown.isEmpty {
    FileHandle.standardError.write("joblib-bench: unknown workload(s) \(unknown.joined(separator: ", ")); see --help\n".data(using: .utf8)!)
    exit(2)
}
let selected = arguments.isEmpty ? allWorkloads : allWorkloads.filter { arguments.contains($0.name) }
var figures: [Figure] = []
for workload in selected {
    // One workload that cannot run (a missing tool, a full disk) costs its own rows, not the run.
    let measured: [Figure]
    do { measured = try workload.run() } catch {
        failedWorkloads.withLock { $0[workload.name] = "\(error)" }
        FileHandle.standardError.write(Data("\(workload.name): failed: \(error)\n".utf8))
        continue
    }
    for figure in measured {
        figures.append(figure)
        if !json {
            print("\(figure.workload) \(figure.metric) \(String(format: "%.4g", figure.value)) \(figure.unit)")
            fflush(nil)  // every stream: `stdout` itself is a global var Swift 6 rejects
        }
    }
}
if table {
    print("")
    print(benchmarkTable(figures))
}
if json {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    print(String(decoding: try encoder.encode(figures), as: UTF8.self))
}
if !failedWorkloads.withLock({ $0.isEmpty }) { exit(1) }
