import FlashSaleCluster
import FlashSaleCore
import FlashSaleRedis
import Logging
import ServiceLifecycle
import Synchronization

/// The Redis shards of gone nodes that this node serves (failover by adoption): a client and a
/// SKU store per adopted shard, opened on first use and closed when the node comes back. The
/// stores carry this node's membership epoch like its own, so the shard refuses a woken owner's
/// older calls: two nodes may reach one shard, but its scripts are atomic and fenced. A shard with
/// a replica is guarded here as its node would guard it (`ShardGuardian`): a node lost together
/// with its primary has its replica promoted by the adopter.
final class AdoptedShards: Service, Sendable {
    private struct Shard: Sendable {
        let servers: Set<String>
        let client: RedisClient
        let store: SKUStore
        let guardian: ShardGuardian?
        let guarding: Task<Void, Never>?

        func close() async {
            self.guarding?.cancel()
            await self.client.stop()
        }
    }

    private let nodeID: String
    private let local: SKUStore
    /// An adopted shard acknowledges as its owner would: after its replicas have the writes.
    private let replication: RedisClient.Replication?
    private let callerEpoch: @Sendable () -> Int64
    private let failoverAfter: Duration
    private let clock: any ServiceClock
    private let logger: Logger
    private let shards = Mutex<[String: Shard]>([:])

    /// `local`: this node's own shard, which `served` answers for this node.
    /// `failoverAfter`: how long an adopted shard may be without a primary before its replica is promoted.
    init(
        nodeID: String,
        local: SKUStore,
        replication: RedisClient.Replication?,
        callerEpoch: @escaping @Sendable () -> Int64,
        failoverAfter: Duration,
        clock: any ServiceClock,
        logger: Logger
    ) {
        self.nodeID = nodeID
        self.local = local
        self.replication = replication
        self.callerEpoch = callerEpoch
        self.failoverAfter = failoverAfter
        self.clock = clock
        self.logger = logger
    }

    /// The store on `node`'s shard when this node serves it under `membership`: its own shard, or
    /// one it adopted. Nil when another node serves it, or its Redis URL is not valid.
    func served(_ node: Membership.Node, in membership: Membership) -> SKUStore? {
        guard membership.server(of: node).id == self.nodeID else { return nil }
        return node.id == self.nodeID ? self.local : self.store(for: node)
    }

    /// The store on `node`'s shard; nil when its Redis URL is not valid.
    func store(for node: Membership.Node) -> SKUStore? {
        guard let endpoint = try? RedisEndpoint(url: node.redisURL) else { return nil }
        let (shard, replaced): (Shard, Shard?) = self.shards.withLock { shards in
            // A promotion changes which server is the primary, not the shard: the guardian moved the client.
            if let shard = shards[node.id], shard.servers == node.shardServers { return (shard, nil) }
            let client = RedisClient(endpoint: endpoint, configuration: .init(connectionCount: 1, replication: self.replication), logger: self.logger)
            client.start()
            var guardianLogger = self.logger
            guardianLogger[metadataKey: "adoptedShard"] = "\(node.id)"
            let guardian = node.replicaURL.map { replicaURL in
                ShardGuardian(
                    client: client, servers: ShardServers(primary: node.redisURL, replica: replicaURL),
                    failoverAfter: self.failoverAfter, clock: self.clock, logger: guardianLogger
                )
            }
            let shard = Shard(
                servers: node.shardServers,
                client: client,
                store: SKUStore(scripts: ScriptRunner(client: client), logger: self.logger, callerEpoch: self.callerEpoch),
                guardian: guardian,
                guarding: guardian.map { guardian in Task { try? await guardian.run() } }
            )
            defer { shards[node.id] = shard }
            return (shard, shards[node.id])
        }
        // The node came back elsewhere and was adopted again: the old client goes.
        if let replaced { Task { await replaced.close() } }
        return shard.store
    }

    /// The servers of the adopted shards with a replica, as their guardians last found them, by node id.
    var guardedShards: [String: ShardServers] {
        self.shards.withLock { shards in
            shards.compactMapValues { $0.guardian?.decided }
        }
    }

    /// Closes the shards of nodes that `membership` no longer has this node serve.
    func keepOnly(adoptedBy nodeID: String, in membership: Membership) async {
        let released: [Shard] = self.shards.withLock { shards in
            let keep = Set(membership.nodes.filter { $0.adoptedBy == nodeID }.map(\.id))
            let gone = shards.filter { !keep.contains($0.key) }
            for id in gone.keys { shards[id] = nil }
            return Array(gone.values)
        }
        for shard in released { await shard.close() }
    }

    /// Holds the adopted shards' clients until the node shuts down, then closes them.
    func run() async throws {
        try? await gracefulShutdown()
        await self.closeAll()
    }

    private func closeAll() async {
        let all = self.shards.withLock { shards in
            defer { shards = [:] }
            return Array(shards.values)
        }
        for shard in all { await shard.close() }
    }
}
