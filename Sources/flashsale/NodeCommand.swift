import ArgumentParser
import Configuration
import FlashSaleCore
import FlashSaleNode
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import UnixSignals

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
    @Option(help: "Replicas that must have a write before it is acknowledged; 0 acknowledges what the primary has (redis.replicas).")
    var redisReplicas: Int?
    @Option(help: "The shard's replica, redis://host:port: promoted when the primary is gone (redis.replicaUrl).")
    var redisReplicaUrl: String?
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
        set("redis.replicas", self.redisReplicas.map(ConfigContent.int))
        set("redis.replicaUrl", self.redisReplicaUrl.map(ConfigContent.string))
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
            configuration: await configuration.locatingShardPrimary(),
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
