// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "medic",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "MedicCore", targets: ["MedicCore"]),
        .library(name: "MedicStore", targets: ["MedicStore"]),
        .library(name: "MedicExecution", targets: ["MedicExecution"]),
        .library(name: "MedicServer", targets: ["MedicServer"]),
        .library(name: "MedicPostgres", targets: ["MedicPostgres"]),
        .executable(name: "medic", targets: ["medic"]),
        .executable(name: "medic-step-launcher", targets: ["medic-step-launcher"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", exact: "1.0.2"),
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", exact: "3.12.3"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/vapor/postgres-nio", exact: "1.33.2"),
    ],
    targets: [
        .target(
            name: "MedicCore",
            dependencies: [.product(name: "Yams", package: "Yams")]
        ),
        .target(
            name: "MedicExecution",
            dependencies: [
                "MedicCore", "CMedicStepLauncher", .product(name: "Subprocess", package: "swift-subprocess"),
            ]
        ),
        // Runs in a step's leader between fork and exec (parent-death signal); see launcher.c.
        .target(name: "CMedicStepLauncher"),
        // Install next to `medic`: starts steps faster than re-executing `medic` itself.
        .executableTarget(name: "medic-step-launcher", dependencies: ["CMedicStepLauncher"]),
        .target(
            name: "MedicServer",
            dependencies: [
                "MedicCore", "MedicExecution",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "MedicStore",
            dependencies: [
                "MedicCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The PostgreSQL store (several replicas, one history): a module of its own so that MedicStore, and what
        // only needs the embedded SQLite default, does not build postgres-nio.
        .target(
            name: "MedicPostgres",
            dependencies: [
                "MedicCore", "MedicStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The matcher path before Medic's own regex engine (ICU), kept outside Sources/ as the match
        // benchmark's baseline only.
        .target(name: "MedicICUBaseline", dependencies: ["MedicCore"], path: "Benchmarks/ICUBaseline"),
        // The benchmark harness behind `medic bench` (scripts/bench.sh, scripts/bench.py).
        .target(
            name: "MedicBench",
            dependencies: [
                "MedicCore", "MedicStore", "MedicExecution", "MedicServer", "MedicICUBaseline",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ]
        ),
        .executableTarget(
            name: "medic",
            dependencies: [
                "MedicCore",
                "MedicStore",
                "MedicExecution",
                "MedicServer",
                "MedicPostgres",
                "MedicBench",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // libFuzzer entry points (scripts/fuzz.sh); a plain build replays files through a target.
        .executableTarget(name: "medic-fuzz", dependencies: ["MedicCore", "CMedicFuzz"]),
        .target(name: "CMedicFuzz"),
        .testTarget(
            name: "MedicCoreTests",
            dependencies: ["MedicCore", "MedicStore"],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "MedicStoreTests",
            dependencies: ["MedicCore", "MedicStore", "MedicExecution", "MedicPostgres", "MedicTestSupport"],
            exclude: ["Fixtures"]
        ),
        // Real servers for tests (sshd on loopback), shared by the test targets that need them.
        .target(name: "MedicTestSupport", path: "Tests/MedicTestSupport"),
        .testTarget(
            name: "MedicExecutionTests",
            dependencies: ["MedicCore", "MedicExecution", "MedicServer", "CMedicStepLauncher", "MedicTestSupport"]
        ),
        .testTarget(
            name: "MedicServerTests",
            dependencies: [
                "MedicCore", "MedicExecution", "MedicServer",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "medicTests",
            dependencies: ["medic", "MedicCore", "MedicStore", "MedicTestSupport"]
        ),
    ]
)
