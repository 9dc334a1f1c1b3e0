import FlashSaleCore
import FlashSaleHTTP
import FlashSaleRedis
import FlashSaleSync
public import Hummingbird
public import Logging
import Prometheus
public import ServiceLifecycle

/// One coordinator: its Redis shard's client, the expiry sweeper and the HTTP API, as services
/// in the order a ServiceGroup must start them (it stops them in reverse: HTTP drains first).
public struct CoordinatorNode: Sendable {
    public let configuration: NodeConfiguration
    public let services: [any Service]

    public init(
        configuration: NodeConfiguration,
        metricsText: @escaping @Sendable () -> String,
        logger: Logger
    ) throws {
        self.configuration = configuration
        let redis = RedisClient(
            endpoint: try RedisEndpoint(url: configuration.redisURL),
            configuration: .init(connectionCount: configuration.redisConnections),
            logger: logger
        )
        let store = SKUStore(scripts: ScriptRunner(client: redis), logger: logger)
        let sweeper = ExpirySweeper(
            store: store,
            intervalMilliseconds: configuration.sweepIntervalMilliseconds,
            logger: logger
        )
        // Without PostgreSQL the node still sells; the record simply is not written.
        let syncer = configuration.postgresURL.map { url in
            Syncer(
                configuration: .init(
                    nodeID: configuration.nodeID,
                    redisURL: configuration.redisURL,
                    leaseTTL: .milliseconds(configuration.syncerLeaseTTLMilliseconds),
                    outboxLimit: configuration.outboxLimit
                ),
                postgresURL: url,
                localStore: store,
                logger: logger
            )
        }
        let router = makeAPIRouter(
            APIDependencies(
                operations: store,
                adminToken: configuration.adminToken,
                clusterStatus: { [configuration] in
                    try await Self.clusterStatus(configuration, store: store, syncer: syncer?.clusterStatus)
                },
                isReady: {
                    (try? await store.scripts.loadAll()) != nil
                },
                metricsText: metricsText
            )
        )
        let http = Application(
            router: router,
            configuration: .init(
                address: .hostname(configuration.httpHost, port: configuration.httpPort),
                serverName: "flashsale/\(configuration.nodeID)"
            ),
            logger: logger
        )
        self.services = [redis, sweeper] + (syncer.map { [$0] } ?? []) + [http]
    }

    /// One node, one shard: the cluster is this node until membership arrives.
    static func clusterStatus(
        _ configuration: NodeConfiguration,
        store: SKUStore,
        syncer: ClusterStatus.Syncer?
    ) async throws -> ClusterStatus {
        let skuCount = try await store.skuCount()
        return ClusterStatus(
            epoch: 1,
            nodes: [
                .init(
                    id: configuration.nodeID,
                    clientUrl: configuration.clientURL,
                    peerAddress: configuration.peerAddress,
                    state: "active",
                    skuCount: skuCount
                )
            ],
            syncer: syncer ?? .init(leader: nil, fencingEpoch: 0, lagSeconds: nil)
        )
    }
}
