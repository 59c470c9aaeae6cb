// swift-tools-version: 6.1
import PackageDescription

// Module layout (ARCHITECTURE.md). Dependencies point one way, in two branches over a shared base:
//   running tasks:  JoblibDask, JoblibRay → JoblibBridge → JoblibProcesses → JoblibParallel ─┐
//   storing values: JoblibMemory → JoblibPersistence → JoblibPickle ┴→ JoblibCoding → JoblibSystem → C shims
// and JoblibTypes (`ByteCount`, no dependencies) beside them, used by both branches.
// and the umbrella `Joblib` re-exports every public module (not JoblibSystem: package access only).
let package = Package(
    name: "swift-joblib",
    products: [
        .library(name: "Joblib", targets: ["Joblib"]),
        .executable(name: "joblib", targets: ["JoblibCLI"]),
        .executable(name: "joblib-demo", targets: ["joblib-demo"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // `make docs` only: `swift package generate-documentation`; nothing links against it.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // System libraries from Debian's -dev packages (the Makefile installs them).
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .systemLibrary(name: "CBzip2", path: "Sources/CBzip2"),
        .systemLibrary(name: "CLzma", path: "Sources/CLzma"),
        .systemLibrary(name: "CLz4", path: "Sources/CLz4"),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd"),
        // XXH3 compiled inline from libxxhash-dev's header, with an AVX2 variant chosen at run time.
        .target(name: "CXXHash"),
        // The constructor that turns a re-executed process into a worker before `main`.
        .target(name: "CJoblibWorkerHook"),
        // Linux calls that Swift's Glibc module does not import; used by JoblibSystem only.
        .target(name: "CJoblibSystem"),

        // `ByteCount`, the one public value that both branches' APIs share (memory budgets, file
        // limits, shared-memory thresholds); no dependencies.
        .target(name: "JoblibTypes"),
        .target(
            name: "JoblibSystem",
            dependencies: ["CJoblibSystem", .product(name: "SystemPackage", package: "swift-system")]
        ),
        .target(name: "JoblibCoding", dependencies: ["JoblibSystem", "CXXHash"], exclude: ["BinaryFormat.md"]),
        // Python pickles (files of Python's joblib.dump) read as inert data, and written as plain data.
        .target(name: "JoblibPickle", dependencies: ["JoblibCoding", "JoblibSystem"], exclude: ["PickleFormat.md"]),
        .target(
            name: "JoblibPersistence",
            dependencies: [
                "JoblibPickle", "JoblibCoding", "JoblibSystem", "JoblibTypes", "CZlib", "CBzip2", "CLzma", "CLz4", "CZstd",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            exclude: ["FileFormat.md"]
        ),
        .target(name: "JoblibParallel", dependencies: ["JoblibCoding", "JoblibSystem"], exclude: ["Engine.md"]),
        .target(
            name: "JoblibProcesses",
            dependencies: [
                "JoblibParallel", "JoblibCoding", "JoblibSystem", "JoblibTypes", "CJoblibWorkerHook",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            exclude: ["WorkerProtocol.md"]
        ),
        .target(
            name: "JoblibMemory",
            dependencies: [
                "JoblibPersistence", "JoblibCoding", "JoblibSystem", "JoblibTypes", .product(name: "SystemPackage", package: "swift-system"),
            ],
            exclude: ["CacheLayout.md"]
        ),
        // What every remote backend shares: the Python bridge process, its pool, the call loop and
        // the Swift worker host run on the cluster. The Python files are compiled in as bytes: a built
        // or installed program needs no file beside it.
        .target(
            name: "JoblibBridge",
            dependencies: [
                "JoblibProcesses", "JoblibParallel", "JoblibCoding", "JoblibSystem",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            exclude: ["BridgeProtocol.md"],
            resources: [.embedInCode("bridge_channel.py"), .embedInCode("swift_worker.py")]
        ),
        .target(
            name: "JoblibDask",
            dependencies: ["JoblibBridge", "JoblibProcesses", "JoblibParallel", "JoblibSystem", "JoblibTypes"],
            exclude: ["RunningOnDask.md"],
            resources: [.embedInCode("dask_bridge.py")]
        ),
        .target(
            name: "JoblibRay",
            dependencies: ["JoblibBridge", "JoblibProcesses", "JoblibParallel", "JoblibSystem"],
            exclude: ["RayBridge.md"],
            resources: [.embedInCode("ray_bridge.py")]
        ),
        .target(
            name: "Joblib",
            dependencies: [
                "JoblibTypes", "JoblibCoding", "JoblibPickle", "JoblibPersistence", "JoblibParallel",
                "JoblibProcesses", "JoblibMemory", "JoblibDask", "JoblibRay",
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .executableTarget(
            name: "joblib-demo",
            dependencies: ["Joblib", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // The `joblib` command-line tool: inspect containers, look after caches, hash files.
        .executableTarget(
            name: "JoblibCLI",
            dependencies: [
                "JoblibPersistence", "JoblibPickle", "JoblibMemory", "JoblibCoding", "JoblibSystem", "JoblibTypes",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/JoblibCLI"),
        // Small programs for the documentation; the product tests run each one.
        .executableTarget(name: "example-parallel", dependencies: ["Joblib"], path: "Examples/example-parallel"),
        .executableTarget(name: "example-memory", dependencies: ["Joblib"], path: "Examples/example-memory"),
        .executableTarget(name: "example-persistence", dependencies: ["Joblib"], path: "Examples/example-persistence"),
        // A second process for tests (hash stability across processes, later crash tests).
        .executableTarget(name: "joblib-test-helper", dependencies: ["Joblib"]),

        // Helpers and the backend conformance suite (run by each backend's test target).
        .target(
            name: "JoblibTestSupport",
            dependencies: [
                "JoblibSystem", "JoblibCoding", "JoblibParallel", .product(name: "SystemPackage", package: "swift-system"),
            ],
            path: "Tests/JoblibTestSupport"),
        .testTarget(
            name: "JoblibSystemTests", dependencies: ["JoblibSystem", "JoblibTestSupport", "joblib-test-helper"]),
        .testTarget(name: "JoblibTypesTests", dependencies: ["JoblibTypes"]),
        .testTarget(
            name: "JoblibCodingTests", dependencies: ["JoblibCoding", "JoblibTestSupport", "joblib-test-helper"]),
        .testTarget(
            name: "JoblibParallelTests", dependencies: ["JoblibParallel", "JoblibCoding", "JoblibSystem", "JoblibTestSupport"]),
        .testTarget(
            name: "JoblibProcessesTests",
            dependencies: ["JoblibProcesses", "JoblibPersistence", "JoblibTestSupport", "joblib-test-helper"]),
        .testTarget(
            name: "JoblibPickleTests", dependencies: ["JoblibPickle", "JoblibPersistence", "JoblibTestSupport"],
            exclude: ["Python"]),
        .testTarget(
            name: "JoblibPersistenceTests", dependencies: ["JoblibPersistence", "JoblibTestSupport", "joblib-test-helper"],
            exclude: ["Golden"]),
        .testTarget(
            name: "JoblibMemoryTests", dependencies: ["JoblibMemory", "JoblibTypes", "JoblibTestSupport", "joblib-test-helper"]),
        // Starts a real Dask scheduler and workers on 127.0.0.1 (scripts/setup.sh installs Dask).
        .testTarget(name: "JoblibDaskTests", dependencies: [
                "JoblibDask", "JoblibProcesses", "JoblibTestSupport",
                .product(name: "SystemPackage", package: "swift-system"),
            ]),
        // Starts a real Ray head and a second node on 127.0.0.1 (scripts/setup.sh installs Ray).
        .testTarget(name: "JoblibRayTests", dependencies: [
                "JoblibRay", "JoblibBridge", "JoblibProcesses", "JoblibTestSupport",
                .product(name: "SystemPackage", package: "swift-system"),
            ]),
        // Runs the demo, the `joblib` tool and the examples as a user would.
        .testTarget(
            name: "JoblibProductTests",
            dependencies: [
                "Joblib", "JoblibTestSupport", "joblib-demo", "JoblibCLI",
                "example-parallel", "example-memory", "example-persistence",
            ]),
    ],
    swiftLanguageModes: [.v6]
)
