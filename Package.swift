// swift-tools-version: 6.1

import PackageDescription

// One settings array for every target, as hummingbird does: dependencies stay
// private unless a target deliberately re-exports them with `public import`.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "flashsale",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "flashsale", targets: ["flashsale"]),
        // What a shop's backend links to call a cluster: typed calls, safe retries, owner routing.
        .library(name: "FlashSaleClient", targets: ["FlashSaleClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.4.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // C libraries from Debian, wrapped by one owning Swift type each.
        .systemLibrary(
            name: "CHiredis",
            pkgConfig: "hiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),

        // Pure domain: the reservation lifecycle, validation, the API's value types. No I/O.
        .target(
            name: "FlashSaleCore",
            dependencies: [.product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),

        // Cluster logic without I/O: placement of SKUs on nodes.
        .target(
            name: "FlashSaleCluster",
            dependencies: ["FlashSaleCore"],
            swiftSettings: swiftSettings
        ),

        // Where each sale operation runs (own shard, owner, previous owner, refused) and the bucket
        // plan of split SKUs, decided without I/O.
        .target(
            name: "FlashSaleRouting",
            dependencies: ["FlashSaleCluster", "FlashSaleCore"],
            swiftSettings: swiftSettings
        ),

        // The membership and its epoch in PostgreSQL, with heartbeats as leases.
        .target(
            name: "FlashSaleMembership",
            dependencies: [
                "FlashSaleCluster",
                "FlashSaleCore",
                "FlashSalePostgres",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // The mutual-TLS peer protocol: a pure frame codec and session state machine, NIO shells around them.
        .target(
            name: "FlashSalePeer",
            dependencies: [
                "FlashSaleCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // A thread-owning executor for blocking C calls, shared by the Redis and PostgreSQL clients.
        .target(
            name: "BlockingIO",
            swiftSettings: swiftSettings
        ),

        // hiredis behind a pipelining client; the Lua scripts and the SKU store built on them.
        .target(
            name: "FlashSaleRedis",
            dependencies: [
                "CHiredis",
                "BlockingIO",
                "FlashSaleCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("Scripts")],
            swiftSettings: swiftSettings
        ),

        // libpq behind a small blocking client run on its own thread.
        .target(
            name: "FlashSalePostgres",
            dependencies: ["CLibPQ", "BlockingIO"],
            swiftSettings: swiftSettings
        ),

        // The PostgreSQL record: its schema and every statement that writes or reads it.
        .target(
            name: "FlashSaleRecord",
            dependencies: ["FlashSaleCore", "FlashSalePostgres"],
            swiftSettings: swiftSettings
        ),

        // The leader-elected, fenced syncer from every shard's outbox to the PostgreSQL record.
        .target(
            name: "FlashSaleSync",
            dependencies: [
                "FlashSaleCore",
                "FlashSaleRedis",
                "FlashSalePostgres",
                "FlashSaleRecord",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // The HTTP API v1 on Hummingbird.
        .target(
            name: "FlashSaleHTTP",
            dependencies: [
                "FlashSaleCore",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            resources: [.copy("StatusPage")],
            swiftSettings: swiftSettings
        ),

        // Configuration and the services that make up one coordinator process.
        .target(
            name: "FlashSaleNode",
            dependencies: [
                "FlashSaleCluster",
                "FlashSaleCore",
                "FlashSaleMembership",
                "FlashSalePeer",
                "FlashSaleHTTP",
                "FlashSalePostgres",
                "FlashSaleRecord",
                "FlashSaleRedis",
                "FlashSaleRouting",
                "FlashSaleSync",
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // The API's client: typed calls, retries with the same requestId, each call sent to its SKU's owner.
        .target(
            name: "FlashSaleClient",
            dependencies: ["FlashSaleCluster", "FlashSaleCore"],
            swiftSettings: swiftSettings
        ),

        // The guarantees checked from a load run's history and the final state, without I/O.
        .target(
            name: "FlashSaleCheck",
            dependencies: ["FlashSaleCore"],
            swiftSettings: swiftSettings
        ),

        // The load generator and the reader of the final state that `flashsale load` and
        // `flashsale check` run against a cluster.
        .target(
            name: "FlashSaleLoad",
            dependencies: [
                "FlashSaleCheck",
                "FlashSaleClient",
                "FlashSaleCore",
                "FlashSalePostgres",
                "FlashSaleRecord",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),

        // The operator's side of the admin API: add and remove nodes, follow their progress.
        .target(
            name: "FlashSaleAdmin",
            dependencies: ["FlashSaleClient", "FlashSaleCore"],
            swiftSettings: swiftSettings
        ),

        // The executable only parses arguments, bootstraps logging and metrics, and runs a ServiceGroup.
        .executableTarget(
            name: "flashsale",
            dependencies: [
                "FlashSaleNode",
                "FlashSaleAdmin",
                "FlashSaleClient",
                "FlashSaleCheck",
                "FlashSaleLoad",
                "FlashSaleSync",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // Real servers for tests: starts redis-server and postgres processes and stops them by PID.
        .target(
            name: "FlashSaleTesting",
            dependencies: [
                "FlashSaleClient",
                "FlashSaleCore",
                "FlashSaleRedis",
                "FlashSaleCluster",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Tests/FlashSaleTesting",
            swiftSettings: swiftSettings
        ),

        .testTarget(
            name: "FlashSaleCoreTests",
            dependencies: ["FlashSaleCore", "FlashSaleTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FlashSaleCheckTests",
            dependencies: ["FlashSaleCheck", "FlashSaleCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FlashSaleLoadTests",
            // The executable too: the open-loop test runs a real `flashsale node`.
            dependencies: [
                "FlashSaleLoad",
                "FlashSaleTesting",
                "flashsale",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FlashSaleClientTests",
            // The executable too: the client is tested against real nodes through joins, leaves and kills.
            dependencies: [
                "FlashSaleClient", "FlashSaleCluster", "FlashSaleCore", "FlashSaleTesting", "flashsale",
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FlashSaleAdminTests",
            dependencies: ["FlashSaleAdmin", "FlashSaleClient", "FlashSaleCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FlashSaleClusterTests",
            dependencies: ["FlashSaleCluster", "FlashSaleCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FlashSaleRoutingTests",
            dependencies: ["FlashSaleRouting", "FlashSaleCluster", "FlashSaleCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FlashSaleRecordTests",
            dependencies: ["FlashSaleRecord", "FlashSaleCore", "FlashSalePostgres", "FlashSaleTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FlashSaleSyncTests",
            // The executable too: the failover tests run real `flashsale node` processes.
            dependencies: [
                "FlashSaleSync", "FlashSaleRecord", "FlashSaleCore", "FlashSaleRedis", "FlashSalePostgres", "FlashSaleTesting", "flashsale",
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FlashSalePeerTests",
            dependencies: [
                "FlashSalePeer",
                "FlashSaleCore",
                "FlashSaleTesting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FlashSaleMembershipTests",
            dependencies: ["FlashSaleMembership", "FlashSaleCluster", "FlashSalePostgres", "FlashSaleTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BlockingIOTests",
            dependencies: ["BlockingIO"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FlashSaleRedisTests",
            dependencies: ["FlashSaleRedis", "FlashSaleCore", "FlashSaleTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FlashSalePostgresTests",
            dependencies: ["FlashSalePostgres", "FlashSaleTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FlashSaleHTTPTests",
            dependencies: [
                "FlashSaleHTTP",
                "FlashSaleCore",
                "FlashSaleRedis",
                "FlashSaleTesting",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FlashSaleNodeTests",
            // The executable too: the cluster tests run real `flashsale node` processes.
            dependencies: [
                "FlashSaleNode",
                "FlashSaleCheck",
                "FlashSaleClient",
                "FlashSaleLoad",
                "FlashSaleCluster",
                "FlashSaleCore",
                "FlashSaleRedis",
                "FlashSalePostgres",
                "FlashSaleSync",
                "FlashSaleTesting",
                "flashsale",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Configuration", package: "swift-configuration"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
