// A second process for tests that must compare results across processes (hash stability now;
// crash and cache tests later). Not a product: only the test targets use it.
import Joblib
#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments.dropFirst()
switch arguments.first {
case "hash-samples":
    // The same values as HashTests.samples, built in a different insertion order.
    var dictionary: [String: Int] = [:]
    for (key, value) in (0..<100).map({ ("key\($0)", $0) }).reversed() { dictionary[key] = value }
    let samples: [String] = [
        try hash(dictionary),
        try hash(Set((0..<50).map { "element\($0)" }.shuffled())),
        try hash([3: "c", 1: "a", 2: "b"]),
    ]
    print(samples.joined(separator: "\n"))
case "cpu-count":
    print(cpuCount())
case "orphans":
    try runOrphanScenario()
default:
    print("usage: joblib-test-helper hash-samples|cpu-count|orphans")
    exit(2)
}
