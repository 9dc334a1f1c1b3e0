import FlashSaleCluster
import FlashSaleCore
import FlashSaleRedis
import Logging
import ServiceLifecycle
import Synchronization

/// Keeps a shard on a primary: probes the shard's two servers every `probeInterval`, lets
/// `ShardPromotion` decide, carries out its promotions and demotions, and points the Redis client
/// that serves the shard at the primary it chose. A node guards its own shard, and an adopter the
/// shards it adopted (a node lost with its primary). The servers it found go out with the node's
/// heartbeats, so the others (the syncer, a node that starts again) follow them.
final class ShardGuardian: Service, Sendable {
    static let probeInterval: Duration = .milliseconds(250)

    private let client: RedisClient
    private let machine: Mutex<ShardPromotion>
    private let clock: any ServiceClock
    private let logger: Logger
    private let warnings = ThrottledWarnings()

    /// `servers.primary` is where `client` points now; `servers.replica` must be set.
    init(client: RedisClient, servers: ShardServers, failoverAfter: Duration, clock: any ServiceClock, logger: Logger) {
        precondition(servers.replica != nil, "a shard without a replica has nothing to guard")
        self.client = client
        self.machine = Mutex(ShardPromotion(servers: [servers.primary, servers.replica ?? ""], failoverAfter: failoverAfter))
        self.clock = clock
        self.logger = logger
    }

    /// The shard's primary and replica as last decided; nil before a probe found a primary.
    var decided: ShardServers? { self.machine.withLock { $0.decided } }

    /// Which of `servers` is the primary now, by one probe of both: a node that starts after a
    /// promotion serves from the promoted replica at once, not from its configured primary
    /// (a replica by then, refusing writes). As given when no probe finds a primary.
    static func locate(_ servers: ShardServers) async -> ShardServers {
        guard let replica = servers.replica else { return servers }
        var machine = ShardPromotion(servers: [servers.primary, replica], failoverAfter: .seconds(3600))
        _ = machine.observe(await Self.probe([servers.primary, replica]), now: .now)
        return machine.decided ?? servers
    }

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await self.probeOnce()
            try? await cancelWhenGracefulShutdown { try await self.clock.sleep(for: Self.probeInterval) }
        }
    }

    func probeOnce() async {
        let probe = await Self.probe(self.machine.withLock { $0.servers })
        let now = self.clock.now
        let (before, actions, after) = self.machine.withLock { machine in
            let before = machine.primary
            let actions = machine.observe(probe, now: now)
            return (before, actions, machine.primary)
        }
        if after != before, let after, let endpoint = try? RedisEndpoint(url: after) {
            if before != nil { self.logger.notice("the shard's primary moves", metadata: ["from": "\(before ?? "")", "to": "\(after)"]) }
            self.client.retarget(endpoint)
        }
        for action in actions {
            do {
                switch action {
                case .promote(let url, let generation):
                    self.logger.notice("promoting the shard's replica", metadata: ["replica": "\(url)", "generation": "\(generation)"])
                    try await ShardAdministration.promote(url, generation: generation)
                case .demote(let url, let primary):
                    self.logger.notice("a server of the shard follows its primary", metadata: ["server": "\(url)", "primary": "\(primary)"])
                    try await ShardAdministration.follow(url, primary: primary)
                }
            } catch {
                // The next probe decides again.
                self.warnings.warning(self.logger, "cannot change a shard server's role yet", key: "\(action)", metadata: ["error": "\(error)"])
            }
        }
    }

    private static func probe(_ servers: [String]) async -> [String: ShardPromotion.Observed] {
        await withTaskGroup(of: (String, ShardPromotion.Observed).self) { group in
            for url in servers {
                group.addTask {
                    switch try? await ShardAdministration.role(of: url) {
                    case .primary(let generation): (url, .primary(generation: generation))
                    case .replica(let generation): (url, .replica(generation: generation))
                    case nil: (url, .unreachable)
                    }
                }
            }
            var probe: [String: ShardPromotion.Observed] = [:]
            for await (url, observed) in group { probe[url] = observed }
            return probe
        }
    }
}
