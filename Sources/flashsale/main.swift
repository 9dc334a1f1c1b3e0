import ArgumentParser
import Configuration
import FlashSaleAdmin
import FlashSaleCheck
import FlashSaleCore
import FlashSaleLoad
import Histogram
import FlashSaleNode
import FlashSaleSync
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import UnixSignals

@main
struct FlashSale: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flashsale",
        abstract: "A distributed flash-sale coordinator.",
        subcommands: [Node.self, Audit.self, Admin.self, Load.self, Check.self]
    )
}

struct Node: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one coordinator node.",
        discussion: """
            Every option can also come from the environment (FLASHSALE_NODE_ID, FLASHSALE_HTTP_PORT, \
            FLASHSALE_REDIS_URL, FLASHSALE_ADMIN_TOKEN, ...) or from a JSON file given with --config \
            ({"node": {"id": "n1"}, "http": {"port": 8080}, ...}). Flags win over the environment, \
            the environment over the file.
            """
    )

    @Option(help: "A JSON configuration file.") var config: String?
    @Option(help: "This node's id (node.id).") var id: String?
    @Option(help: "Address the client API listens on (http.host).") var httpHost: String?
    @Option(help: "Port of the client API (http.port).") var httpPort: Int?
    @Option(help: "This node's Redis shard, redis://host:port (redis.url).") var redisUrl: String?
    @Option(help: "Connections to the Redis shard, each with its own pipeline (redis.connections).")
    var redisConnections: Int?
    @Option(help: "PostgreSQL connection URL (postgres.url).") var postgresUrl: String?
    @Option(help: "This node's peer address host:port (peer.address).") var peerAddress: String?
    @Option(help: "Local IP address its outgoing peer connections come from (peer.sourceHost).")
    var peerSourceHost: String?
    @Option(help: "File holding the admin bearer token (admin.tokenFile).") var adminTokenFile: String?
    @Option(help: "Directory with the cluster CA and this node's certificate (tls.directory).")
    var tlsDirectory: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel: String = "info"

    func run() async throws {
        var flags: [AbsoluteConfigKey: ConfigValue] = [:]
        func set(_ key: AbsoluteConfigKey, _ value: ConfigContent?) {
            if let value { flags[key] = ConfigValue(value, isSecret: false) }
        }
        set("node.id", self.id.map(ConfigContent.string))
        set("http.host", self.httpHost.map(ConfigContent.string))
        set("http.port", self.httpPort.map(ConfigContent.int))
        set("redis.url", self.redisUrl.map(ConfigContent.string))
        set("redis.connections", self.redisConnections.map(ConfigContent.int))
        set("postgres.url", self.postgresUrl.map(ConfigContent.string))
        set("peer.address", self.peerAddress.map(ConfigContent.string))
        set("peer.sourceHost", self.peerSourceHost.map(ConfigContent.string))
        set("admin.tokenFile", self.adminTokenFile.map(ConfigContent.string))
        set("tls.directory", self.tlsDirectory.map(ConfigContent.string))

        var providers: [any ConfigProvider] = [
            InMemoryProvider(name: "flags", values: flags),
            EnvironmentVariablesProvider().prefixKeys(with: "flashsale"),
        ]
        if let config {
            let fileSettings = ConfigReader(
                provider: InMemoryProvider(name: "config file", values: ["filePath": .init(.string(config), isSecret: false)])
            )
            providers.append(try await FileProvider<JSONSnapshot>(config: fileSettings))
        }
        let configuration = try NodeConfiguration(reader: ConfigReader(providers: providers))

        let level = Logger.Level(rawValue: self.logLevel) ?? .info
        // Every line about a client request carries its requestId (RequestTrace), on every node it reaches.
        LoggingSystem.bootstrap(
            { label, metadataProvider in
                var handler = StreamLogHandler.standardError(label: label, metadataProvider: metadataProvider)
                handler.logLevel = level
                return handler
            },
            metadataProvider: RequestTrace.metadataProvider
        )
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        var logger = Logger(label: "flashsale")
        logger[metadataKey: "node"] = "\(configuration.nodeID)"
        let node = try CoordinatorNode(
            configuration: configuration,
            metricsText: { registry.emitToString() },
            logger: logger
        )
        let group = ServiceGroup(
            configuration: .init(
                services: node.services.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        logger.info("starting", metadata: ["http": "\(configuration.clientURL)", "redis": "\(configuration.redisURL)"])
        try await group.run()
        logger.info("stopped")
    }
}

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare every SKU's counters in the cluster with the PostgreSQL record.",
        discussion: """
            Waits until the syncer has flushed every registered shard's outbox, then lists every \
            difference. Exit status: 0 when the record agrees, 1 when it differs, 2 when the syncer \
            did not catch up in time.
            """
    )

    @Option(help: "PostgreSQL connection URL (or FLASHSALE_POSTGRES_URL).") var postgresUrl: String?
    @Option(help: "How long to wait for the syncer to catch up.") var waitSeconds: Int = 30
    @Flag(help: "Print {\"agrees\", \"differences\": [{\"sku\", \"shard\", \"cluster\", \"record\"}], \"behindShards\"}.")
    var json = false

    func run() async throws {
        guard let url = self.postgresUrl ?? ProcessInfo.processInfo.environment["FLASHSALE_POSTGRES_URL"] else {
            throw InputError("--postgres-url is required")
        }
        var logger = Logger(label: "flashsale.audit")
        logger.logLevel = .error
        let audit = RecordAudit(postgresURL: url, logger: logger)
        let deadline = ContinuousClock.now + .seconds(self.waitSeconds)
        while true {
            switch try await audit.run() {
            case .caughtUp(let differences):
                if self.json {
                    print(Self.json(agrees: differences.isEmpty, differences: differences, behind: []))
                } else if differences.isEmpty {
                    print("the record agrees with the cluster")
                } else {
                    var table = TextTable(["sku", "shard", "cluster", "record"])
                    for difference in differences { table.add([difference.sku, difference.shard ?? "none", difference.cluster, difference.record]) }
                    print("\(differences.count) difference(s) between the cluster and the record:\n\(table.render())")
                }
                if !differences.isEmpty { throw ExitCode(1) }
                return
            case .behind(let shards):
                guard ContinuousClock.now < deadline else {
                    print(self.json ? Self.json(agrees: false, differences: [], behind: shards)
                        : "the syncer has not caught up with shard(s) \(shards.joined(separator: ", "))")
                    throw ExitCode(2)
                }
                try await Task.sleep(for: .milliseconds(250))
            }
        }
    }

    static func json(agrees: Bool, differences: [RecordAudit.Difference], behind: [String]) -> String {
        JSONWriter.object {
            $0.field("agrees", agrees)
            $0.raw(
                "differences",
                JSONWriter.array(differences.map { difference in
                    JSONWriter.object {
                        $0.field("sku", difference.sku)
                        if let shard = difference.shard { $0.field("shard", shard) } else { $0.nullField("shard") }
                        $0.field("cluster", difference.cluster)
                        $0.field("record", difference.record)
                    }
                })
            )
            $0.raw("behindShards", JSONWriter.array(behind.map { shard in
                var quoted = ""
                JSONWriter.appendQuoted(shard, to: &quoted)
                return quoted
            }))
        }
    }
}

struct Admin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the cluster, add and remove nodes, define and read SKUs, and audit the record.",
        discussion: """
            The commands talk to any node's API with the admin token (audit reads the shards and \
            PostgreSQL instead); tables by default, --json for machine-readable answers.
            """,
        subcommands: [Status.self, AddNode.self, RemoveNode.self, SKU.self, Audit.self]
    )

    struct Connection: ParsableArguments {
        @Option(help: "Any node's client URL.") var url: String = "http://127.0.0.1:8080"
        @Option(help: "File holding the admin bearer token (or FLASHSALE_ADMIN_TOKEN).") var adminTokenFile: String?
        @Option(help: "How long to wait for the change to finish.") var waitSeconds: Int = 300

        func client() throws -> AdminClient {
            guard let url = URL(string: self.url), url.scheme == "http" || url.scheme == "https" else {
                throw InputError("--url must be an http:// URL")
            }
            return AdminClient(baseURL: url, token: try adminToken(file: self.adminTokenFile))
        }
    }

    struct AddNode: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a node (POST /v1/cluster/nodes) and show progress until its SKUs have moved to it."
        )
        @OptionGroup var connection: Connection
        @Option(help: "The new node's id.") var id: String
        @Option(help: "Its client URL.") var clientUrl: String
        @Option(help: "Its peer address host:port.") var peerAddress: String
        @Option(help: "Its Redis shard, redis://host:port.") var redisUrl: String
        @Option(help: "Its relative capacity.") var weight: Double = 1
        @Flag(help: "Print no progress, then GET /v1/cluster's JSON once the node is active.") var json = false

        func run() async throws {
            let node = NodeRegistration(id: self.id, clientUrl: self.clientUrl, peerAddress: self.peerAddress, redisUrl: self.redisUrl, weight: self.weight)
            let client = try self.connection.client()
            _ = try await client.change(
                { (admin) throws(AdminError) in try await admin.addNode(node) },
                until: { $0.isSettled(node: node.id, in: "active") },
                timeout: .seconds(self.connection.waitSeconds),
                report: { if !self.json { print($0) } }
            )
            print(self.json ? String(decoding: try await client.clusterJSON(), as: UTF8.self) : "\(node.id) is active")
        }
    }

    struct RemoveNode: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a node (DELETE /v1/cluster/nodes/{id}) and show progress until it has handed over its SKUs."
        )
        @OptionGroup var connection: Connection
        @Option(help: "The node's id.") var id: String
        @Flag(help: "Print no progress, then GET /v1/cluster's JSON once the node is down.") var json = false

        func run() async throws {
            let client = try self.connection.client()
            _ = try await client.change(
                { (admin) throws(AdminError) in try await admin.removeNode(self.id) },
                until: { $0.isSettled(node: self.id, in: "down") },
                timeout: .seconds(self.connection.waitSeconds),
                report: { if !self.json { print($0) } }
            )
            print(self.json ? String(decoding: try await client.clusterJSON(), as: UTF8.self) : "\(self.id) is down: it holds no SKUs and may be stopped")
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the nodes (state, SKUs, ring share, moves), the syncer leader and lag, and any change in progress."
        )
        @OptionGroup var connection: Connection
        @Flag(help: "Print GET /v1/cluster's JSON.") var json = false

        func run() async throws {
            let client = try self.connection.client()
            let body = try await client.clusterJSON()
            if self.json {
                print(String(decoding: body, as: UTF8.self))
            } else {
                print(try AdminClient.decode(ClusterStatus.self, body, "GET /v1/cluster").statusReport)
            }
        }
    }

    struct SKU: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sku",
            abstract: "Define or change a SKU, or read it.",
            subcommands: [Put.self, Get.self]
        )

        struct Put: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Define a SKU or change its stock and settings (PUT /v1/skus/{sku}).")
            @OptionGroup var connection: Connection
            @Argument(help: "The SKU.") var sku: String
            @Option(help: "Its stock (at least what is reserved and committed).") var stock: Int64
            @Option(help: "How many units one user may hold (default 1 for a new SKU).") var perUserLimit: Int64?
            @Option(help: "How long a reservation holds its stock, seconds (default 600 for a new SKU).") var ttlSeconds: Int64?
            @Option(help: "Split a new SKU's stock over this many buckets on different nodes, 1 to 16 (fixed once defined; default 1).")
            var buckets: Int64?
            @Flag(help: "Print the API's JSON answer.") var json = false

            func run() async throws {
                let body = try await self.connection.client().putSKU(
                    self.sku, stock: self.stock, perUserLimit: self.perUserLimit, reservationTtlSeconds: self.ttlSeconds, buckets: self.buckets
                )
                print(self.json ? String(decoding: body, as: UTF8.self) : try AdminClient.decode(SKUView.self, body, "PUT /v1/skus").report)
            }
        }

        struct Get: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Show a SKU's stock, availability and settings (GET /v1/skus/{sku}).")
            @OptionGroup var connection: Connection
            @Argument(help: "The SKU.") var sku: String
            @Flag(help: "Print the API's JSON answer.") var json = false

            func run() async throws {
                let body = try await self.connection.client().sku(self.sku)
                print(self.json ? String(decoding: body, as: UTF8.self) : try AdminClient.decode(SKUView.self, body, "GET /v1/skus").report)
            }
        }
    }
}

/// The admin token from a file or FLASHSALE_ADMIN_TOKEN.
func adminToken(file: String?) throws -> String {
    var token = ProcessInfo.processInfo.environment["FLASHSALE_ADMIN_TOKEN"]
    if let file {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw InputError("cannot read \(file)") }
        token = text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
    guard let token, !token.isEmpty else { throw InputError("--admin-token-file or FLASHSALE_ADMIN_TOKEN is required") }
    return token
}

struct Load: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Drive a sale against a running cluster and write the history of every request.",
        discussion: """
            Defines SKUs PREFIX0..PREFIX(N-1), then buyers reserve a random SKU as a random user and \
            commit, release or abandon what they get, through a random node each time; a request \
            without an answer, or answered 503, is retried with the same requestId. Prints progress \
            every second and latency percentiles at the end; `flashsale check HISTORY` checks the run.
            """
    )

    @Option(help: "A node's client URL (repeat for several).") var url: [String] = ["http://127.0.0.1:8080"]
    @Option(help: "File holding the admin bearer token (or FLASHSALE_ADMIN_TOKEN).") var adminTokenFile: String?
    @Option(help: "Where to write the history (JSON lines).") var history: String = "history.jsonl"
    @Option(help: "SKU name prefix.") var skuPrefix: String = "load-"
    @Option(help: "Number of SKUs.") var skus: Int = 20
    @Option(help: "Stock of each SKU.") var stock: Int64 = 100
    @Option(help: "Per-user limit of each SKU.") var perUserLimit: Int64 = 2
    @Option(help: "Reservation time to live, seconds.") var ttlSeconds: Int64 = 600
    @Option(help: "Split the odd-numbered SKUs over this many buckets (1 to 16), so one run sells both kinds.")
    var buckets: Int64 = 1
    @Option(help: "Number of distinct users.") var users: Int = 500
    @Option(help: "Buyers running at once.") var concurrency: Int = 16
    @Option(help: "Reservations started per second over all buyers (default: a closed loop, as fast as answered).")
    var rate: Double?
    @Option(help: "How long to run, seconds.") var seconds: Int = 30
    @Option(help: "Share of reservations committed.") var commitShare: Double = 0.5
    @Option(help: "Share of reservations released (the rest are abandoned).") var releaseShare: Double = 0.25

    func validate() throws {
        guard (1...10_000).contains(self.skus), (1...1024).contains(self.concurrency), (1...3600).contains(self.seconds),
            self.users >= 1, self.stock >= 0, self.perUserLimit >= 1, (1...SKUBuckets.maximum).contains(self.buckets),
            self.commitShare >= 0, self.releaseShare >= 0,
            self.commitShare + self.releaseShare <= 1, self.rate.map({ (0.1...1_000_000).contains($0) }) ?? true
        else {
            throw ValidationError("out of range: skus 1-10000, concurrency 1-1024, seconds 1-3600, buckets 1-16, shares summing to at most 1, rate 0.1-1000000")
        }
    }

    func run() async throws {
        let urls = try self.url.map { text in
            guard let url = URL(string: text), url.scheme == "http" || url.scheme == "https" else { throw ValidationError("\(text) is not an http:// URL") }
            return url
        }
        let generator = LoadGenerator(
            settings: .init(
                urls: urls, adminToken: try adminToken(file: self.adminTokenFile), skuPrefix: self.skuPrefix, skuCount: self.skus,
                stock: self.stock, perUserLimit: self.perUserLimit, reservationTtlSeconds: self.ttlSeconds, buckets: self.buckets, users: self.users,
                concurrency: self.concurrency, duration: .seconds(self.seconds), commitShare: self.commitShare, releaseShare: self.releaseShare,
                targetRatePerSecond: self.rate
            )
        )
        try await generator.defineSKUs()
        let run = Task { await generator.run() }
        let end = ContinuousClock.now + .seconds(self.seconds)
        // On a terminal one status line is redrawn in place; into a file, a line a second.
        let redraw = isatty(STDOUT_FILENO) == 1
        var last = 0
        while ContinuousClock.now < end {
            try await Task.sleep(for: .seconds(1))
            let progress = generator.progress
            let count = { (prefix: String) in progress.outcomes.filter { $0.key.hasPrefix(prefix) }.values.reduce(0, +) }
            let stock = await generator.stockLeft().map(String.init) ?? "?"
            let line =
                "\(progress.requests - last) requests/s, \(progress.requests) in all: \(count("reserve 201")) reserved, "
                + "\(count("reserve 409")) refused, \(count("commit 200")) committed, \(count("release 200")) released, "
                + "\(progress.outcomes.filter { $0.key.hasSuffix("no answer") || $0.key.contains(" 5") }.values.reduce(0, +)) unanswered or 5xx; "
                + "stock left \(stock), p99 \(progress.latency.valueAtPercentile(99)) ms"
            if redraw {
                FileHandle.standardOutput.write(Data(("\r\u{1B}[K" + line).utf8))
            } else {
                print(line)
            }
            last = progress.requests
        }
        if redraw { print() }
        await run.value
        let progress = generator.progress
        for (outcome, count) in progress.outcomes.sorted(by: { $0.key < $1.key }) { print("  \(outcome): \(count)") }
        for percentile in [50.0, 90, 99, 99.9, 100] {
            print("  p\(percentile): \(progress.latency.valueAtPercentile(percentile)) ms")
        }
        try HistoryFile.write(generator.history, to: self.history)
        print("history of \(generator.history.count) requests in \(self.history)")
    }
}

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a load run's history against the cluster and the PostgreSQL record (I1 to I7).",
        discussion: "Waits for the syncer to catch up, reads the final state, prints every violation; exit status 1 when there is any."
    )

    @Argument(help: "The history file `flashsale load` wrote.") var history: String
    @Option(help: "A node's client URL.") var url: String = "http://127.0.0.1:8080"
    @Option(help: "File holding the admin bearer token (or FLASHSALE_ADMIN_TOKEN).") var adminTokenFile: String?
    @Option(help: "PostgreSQL connection URL (or FLASHSALE_POSTGRES_URL).") var postgresUrl: String?
    @Option(help: "How long to wait for the syncer to catch up.") var waitSeconds: Int = 60

    func run() async throws {
        guard let postgres = self.postgresUrl ?? ProcessInfo.processInfo.environment["FLASHSALE_POSTGRES_URL"] else {
            throw InputError("--postgres-url is required")
        }
        guard let url = URL(string: self.url) else { throw InputError("\(self.url) is not a URL") }
        let history = try HistoryFile.read(self.history)
        let reader = StateReader(url: url, adminToken: try adminToken(file: self.adminTokenFile), postgresURL: postgres)
        if let wait = try await reader.expiryWait(history), wait > .zero {
            print("waiting \(wait) for the run's reservations to expire or be resolved")
            try await Task.sleep(for: wait)
        }
        var logger = Logger(label: "flashsale.check")
        logger.logLevel = .error
        let audit = RecordAudit(postgresURL: postgres, logger: logger)
        let deadline = ContinuousClock.now + .seconds(self.waitSeconds)
        while case .behind(let shards) = try await audit.run() {
            guard ContinuousClock.now < deadline else {
                print("the syncer has not caught up with shard(s) \(shards.joined(separator: ", "))")
                throw ExitCode(2)
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        let final = try await reader.read(history)
        let violations = InvariantChecker.check(history, final: final)
        print("\(history.count) requests, \(history.filter(\.isAcknowledged).count) acknowledged, \(final.reservations.count) reservations checked")
        guard !violations.isEmpty else {
            print("no violation: I1, I2, I4, I5, I6, I7 and conservation hold")
            return
        }
        print("\(violations.count) violation(s):")
        for violation in violations { print(violation) }
        throw ExitCode(1)
    }
}

/// Bad input found while a command runs (after parsing): printed as "Error: ..." alone.
/// ArgumentParser's ValidationError, thrown there, would print the root command's usage
/// instead of the subcommand's, which misleads more than it helps.
struct InputError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
