// swift-tools-version: 6.1
// A user's package: proves swift-joblib builds as a dependency (no unsafeFlags) through `Joblib`.
import PackageDescription

let package = Package(
    name: "Consumer",
    dependencies: [.package(name: "swift-joblib", path: "../..")],
    targets: [
        .executableTarget(name: "Consumer", dependencies: [.product(name: "Joblib", package: "swift-joblib")]),
    ]
)
