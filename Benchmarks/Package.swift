// swift-tools-version: 6.1
// Benchmarks, run on demand (never in the test suite):
//   swift run -c release --package-path Benchmarks joblib-bench [--json] [WORKLOAD...]
import PackageDescription

let package = Package(
    name: "swift-joblib-benchmarks",
    dependencies: [.package(name: "swift-joblib", path: "..")],
    targets: [
        .executableTarget(
            name: "joblib-bench",
            dependencies: [.product(name: "Joblib", package: "swift-joblib")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
