import FlashSaleCluster
import FlashSaleCore
import FlashSaleRedis
import Logging
import ServiceLifecycle
import Synchronization

/// Keeps this node's shard on a primary: probes the shard's two servers every `probeInterval`,
/// lets `ShardPromotion` decide, carries out its promotions and demotions, and points the node's
/// Redis client at the primary it chose. The primary's URL goes out with the node's heartbeats,
/// so the others (the syncer, an adopter) follow it.
final class ShardGuardian: Service, Sendable {
    static let probeInterval: Duration = .milliseconds(250)

    private let client: RedisClient
    private let machine: Mutex<ShardPromotion>
    private let clock: any ServiceClock
    private let logger: Logger
    private let warnings = ThrottledWarnings()

    init(client: RedisClient, primaryURL: String, replicaURL: String, failoverAfter: Duration, clock: any ServiceClock, logger: Logger) {
        self.client = client
        self.machine = Mutex(ShardPromotion(servers: [primaryURL, replicaURL], failoverAfter: failoverAfter))
        self.clock = clock
        self.logger = logger
    }

    /// The shard's primary as last decided; nil before the first probe found one.
    var primaryURL: String? { self.machine.withLock { $0.primary } }

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await self.probeOnce()
            try? await cancelWhenGracefulShutdown { try await self.clock.sleep(for: Self.probeInterval) }
        }
    }

    func probeOnce() async {
        let servers = self.machine.withLock { $0.servers }
        var probe: [String: ShardPromotion.Observed] = [:]
        await withTaskGroup(of: (String, ShardPromotion.Observed).self) { group in
            for url in servers {
                group.addTask {
                    switch try? await ShardAdministration.role(of: url) {
                    case .primary(let generation): (url, .primary(generation: generation))
                    case .replica: (url, .replica)
                    case nil: (url, .unreachable)
                    }
                }
            }
            for await (url, observed) in group { probe[url] = observed }
        }
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
                    self.logger.notice("an old primary of the shard follows the new one", metadata: ["server": "\(url)", "primary": "\(primary)"])
                    try await ShardAdministration.follow(url, primary: primary)
                }
            } catch {
                // The next probe decides again.
                self.warnings.warning(self.logger, "cannot change a shard server's role yet", key: "\(action)", metadata: ["error": "\(error)"])
            }
        }
    }
}
