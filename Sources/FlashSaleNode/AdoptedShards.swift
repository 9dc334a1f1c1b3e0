import FlashSaleCluster
import FlashSaleRedis
import Logging
import ServiceLifecycle
import Synchronization

/// The Redis shards of gone nodes that this node serves (failover by adoption): a client and a
/// SKU store per adopted shard, opened on first use and closed when the node comes back. The
/// stores carry this node's membership epoch like its own, so the shard refuses a woken owner's
/// older calls: two nodes may reach one shard, but its scripts are atomic and fenced.
final class AdoptedShards: Service, Sendable {
    private struct Shard: Sendable {
        let redisURL: String
        let client: RedisClient
        let store: SKUStore
    }

    private let nodeID: String
    private let local: SKUStore
    /// An adopted shard acknowledges as its owner would: after its replicas have the writes.
    private let replication: RedisClient.Replication?
    private let callerEpoch: @Sendable () -> Int64
    private let logger: Logger
    private let shards = Mutex<[String: Shard]>([:])

    /// `local`: this node's own shard, which `served` answers for this node.
    init(
        nodeID: String, local: SKUStore, replication: RedisClient.Replication?, callerEpoch: @escaping @Sendable () -> Int64, logger: Logger
    ) {
        self.nodeID = nodeID
        self.local = local
        self.replication = replication
        self.callerEpoch = callerEpoch
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
            if let shard = shards[node.id], shard.redisURL == node.redisURL { return (shard, nil) }
            let client = RedisClient(endpoint: endpoint, configuration: .init(connectionCount: 1, replication: self.replication), logger: self.logger)
            client.start()
            let shard = Shard(
                redisURL: node.redisURL,
                client: client,
                store: SKUStore(scripts: ScriptRunner(client: client), logger: self.logger, callerEpoch: self.callerEpoch)
            )
            defer { shards[node.id] = shard }
            return (shard, shards[node.id])
        }
        // The node came back elsewhere and was adopted again: the old client goes.
        if let replaced { Task { await replaced.client.stop() } }
        return shard.store
    }

    /// Closes the shards of nodes that `membership` no longer has this node serve.
    func keepOnly(adoptedBy nodeID: String, in membership: Membership) async {
        let released: [Shard] = self.shards.withLock { shards in
            let keep = Set(membership.nodes.filter { $0.adoptedBy == nodeID }.map(\.id))
            let gone = shards.filter { !keep.contains($0.key) }
            for id in gone.keys { shards[id] = nil }
            return Array(gone.values)
        }
        for shard in released { await shard.client.stop() }
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
        for shard in all { await shard.client.stop() }
    }
}
