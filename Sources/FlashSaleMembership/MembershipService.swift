public import FlashSaleCluster
public import FlashSaleCore
import FlashSalePostgres
public import Logging
public import ServiceLifecycle
import Synchronization

/// Keeps this node in the membership and the membership in this node: joins at start (retrying
/// until PostgreSQL answers), heartbeats its lease, and reads the membership again when the epoch
/// rises: at once when a peer says so (`observe`), and at the latest on the next heartbeat.
public final class MembershipService: Service {
    public struct Settings: Sendable {
        public var leaseMilliseconds: Int
        public var heartbeatMilliseconds: Int

        public init(leaseMilliseconds: Int = 5000, heartbeatMilliseconds: Int = 1000) {
            self.leaseMilliseconds = leaseMilliseconds
            self.heartbeatMilliseconds = heartbeatMilliseconds
        }
    }

    private let node: Membership.Node
    private let settings: Settings
    private let postgres: PostgresClient
    private let skuCount: @Sendable () async -> Int64?
    private let handoffs: @Sendable () -> [String: Membership.HandoffReport]
    private let shards: @Sendable () -> [String: ShardServers]
    private let announce: @Sendable (Membership) async -> Void
    private let adopted: @Sendable (Membership) async -> Void
    private let clock: any ServiceClock
    private let logger: Logger
    private let schedule: Mutex<MembershipSchedule>
    private let wake = WakeSignal()

    private let view: MembershipView

    /// The membership read is published to `view`, which the node's other services read.
    /// `adopted` is called each time this node takes a newer epoch as its own (its shard records
    /// it), `announce` when a change made here (a join, an operator's call, the end of a
    /// rebalancing) raised the epoch, to tell the others at once. `handoffs` is the handoff
    /// progress of the shards this node serves (its own, and those it adopted), by node id,
    /// reported with every heartbeat, as are `shards`, the servers of the shards it serves as their
    /// guardians last found them (a promoted replica is the primary), by node id.
    public init(
        node: Membership.Node,
        settings: Settings,
        postgresURL: String,
        view: MembershipView,
        skuCount: @escaping @Sendable () async -> Int64?,
        handoffs: @escaping @Sendable () -> [String: Membership.HandoffReport],
        shards: @escaping @Sendable () -> [String: ShardServers] = { [:] },
        adopted: @escaping @Sendable (Membership) async -> Void,
        announce: @escaping @Sendable (Membership) async -> Void,
        clock: any ServiceClock = SystemClock(),
        logger: Logger
    ) {
        self.clock = clock
        self.node = node
        self.settings = settings
        self.shards = shards
        self.postgres = PostgresClient(
            url: postgresURL,
            queueCapacity: 16,
            sessionSettings: Self.sessionSettings(leaseMilliseconds: settings.leaseMilliseconds)
        )
        self.view = view
        self.skuCount = skuCount
        self.handoffs = handoffs
        self.announce = announce
        self.adopted = adopted
        self.logger = logger
        self.schedule = Mutex(MembershipSchedule(heartbeatInterval: .milliseconds(settings.heartbeatMilliseconds), now: clock.now))
    }

    /// The membership as last read; nil until this node has joined.
    public var current: Membership? { self.view.current }

    /// A peer knows membership `epoch`: read ours again soon if it is newer.
    public func observe(epoch: Int64) {
        let known = self.view.epoch
        if self.schedule.withLock({ $0.heard(epoch: epoch, knownEpoch: known) }) { self.wake.ring() }
    }

    /// Reads the membership now unless ours is at least `epoch` already. A node that receives a
    /// request from a peer with a newer epoch calls this before deciding who owns the SKU.
    public func catchUp(to epoch: Int64) async {
        self.observe(epoch: epoch)
        guard let current = self.current, current.epoch < epoch else { return }
        await self.read()
    }

    /// This node's handoffs are done: report it now, so that the change can settle without waiting for the next heartbeat.
    public func reportHandoffSoon() {
        self.schedule.withLock { $0.handoffsDone() }
        self.wake.ring()
    }

    /// `POST /v1/cluster/nodes`. Throws `MembershipStoreError` when the change must wait or is refused.
    public func add(_ node: Membership.Node) async throws {
        try await self.change { try MembershipStore.add(node, $0) }
    }

    /// `DELETE /v1/cluster/nodes/{id}`.
    public func remove(_ id: String) async throws {
        try await self.change { try MembershipStore.leave(id, $0) }
    }

    private func change(_ body: @escaping @Sendable (PostgresConnection) throws -> Bool) async throws {
        let raised = try await self.postgres.withConnection { connection in
            try MembershipStore.migrate(connection)
            return try body(connection)
        }
        await self.read()
        if raised, let membership = self.current { await self.announce(membership) }
    }

    /// A node paused (SIGSTOP, a long GC-like stall) inside a membership transaction would hold the
    /// epoch row's lock, and with it every other node's heartbeat and every change, for as long as
    /// it stays paused; PostgreSQL ends such a session once it has idled in its transaction for a
    /// lease, by when the others count the node as gone anyway.
    static func sessionSettings(leaseMilliseconds: Int) -> [String] {
        ["SET idle_in_transaction_session_timeout = \(leaseMilliseconds)"]
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let (now, known) = (self.clock.now, self.view.epoch)
                switch self.schedule.withLock({ $0.next(now: now, knownEpoch: known) }) {
                case .join: await self.join()
                case .read: await self.read()
                case .heartbeat: await self.heartbeat()
                case .wait(let deadline): await self.wake.wait(until: deadline, on: self.clock)
                }
            }
        }
        await self.postgres.stop()
    }

    private func join() async {
        var node = self.node
        node.skuCount = await self.skuCount() ?? 0
        do {
            let (announced, lease) = (node, self.settings.leaseMilliseconds)
            let (membership, raised) = try await self.postgres.withConnection { connection in
                try MembershipStore.migrate(connection)
                return try MembershipStore.join(announced, leaseMilliseconds: lease, connection)
            }
            await self.publish(membership)
            self.schedule.withLock { $0.joined(now: self.clock.now) }
            self.logger.info(
                "joined the cluster",
                metadata: ["epoch": "\(membership.epoch)", "nodes": "\(membership.nodes.map(\.id))", "newEpoch": "\(raised)"]
            )
            if raised { await self.announce(membership) }
        } catch MembershipStoreError.changeInProgress(let why) {
            self.logger.info("waiting to join the cluster", metadata: ["reason": "\(why)"])
            self.schedule.withLock { $0.joinFailed(.changeInProgress, now: self.clock.now) }
        } catch {
            self.logger.warning("cannot join the cluster yet", metadata: ["error": "\(error)"])
            self.schedule.withLock { $0.joinFailed(.unreachable, now: self.clock.now) }
        }
    }

    private func heartbeat() async {
        let count = await self.skuCount() ?? self.current?.node(self.node.id)?.skuCount ?? 0
        let (id, lease, handoffs, shards) = (self.node.id, self.settings.leaseMilliseconds, self.handoffs(), self.shards())
        let rebalancing = self.current?.isRebalancing ?? false
        do {
            let (beat, settled) = try await self.postgres.withConnection { connection in
                let beat = try MembershipStore.heartbeat(
                    id, leaseMilliseconds: lease, skuCount: count, handoff: handoffs[id], shard: shards[id], connection
                )
                // The handoffs and servers of adopted shards count as their nodes' own.
                for (adoptedID, report) in handoffs where adoptedID != id {
                    try MembershipStore.recordHandoff(report, of: adoptedID, adoptedBy: id, connection)
                }
                for (adoptedID, shard) in shards where adoptedID != id {
                    try MembershipStore.recordShard(shard, of: adoptedID, adoptedBy: id, connection)
                }
                // Any node may end a change once every node has reported its handoffs done.
                return (beat, rebalancing ? try MembershipStore.settleIfDone(connection) : false)
            }
            self.observe(epoch: beat.epoch)
            // Read even at the same epoch now and then: the liveness and SKU counts of the others change.
            await self.read()
            if beat.reclaimed { self.logger.notice("took this node's shard back from the node that adopted it") }
            if settled { self.logger.info("membership change settled", metadata: ["epoch": "\(self.current?.epoch ?? 0)"]) }
            let adopted = await self.adoptGoneShards()
            if beat.reclaimed || settled || adopted, let membership = self.current { await self.announce(membership) }
        } catch {
            self.logger.warning("heartbeat failed", metadata: ["error": "\(error)"])
        }
    }

    /// Adopts the shards of nodes whose lease has expired when this node is the survivor chosen
    /// for them (`Membership.shardsToAdopt`). True when it adopted any.
    private func adoptGoneShards() async -> Bool {
        guard let gone = self.current?.shardsToAdopt(by: self.node.id), !gone.isEmpty else { return false }
        let id = self.node.id
        do {
            let adopted = try await self.postgres.withConnection { connection in
                try gone.filter { try MembershipStore.adopt($0.id, by: id, connection) }.map(\.id)
            }
            guard !adopted.isEmpty else { return false }
            self.logger.notice("adopted the shards of gone nodes", metadata: ["nodes": "\(adopted)"])
            await self.read()
            return true
        } catch {
            self.logger.warning("cannot adopt the shards of gone nodes", metadata: ["error": "\(error)"])
            return false
        }
    }

    private func read() async {
        do {
            let membership = try await self.postgres.withConnection { try MembershipStore.read($0) }
            await self.publish(membership)
        } catch {
            self.logger.warning("cannot read the membership", metadata: ["error": "\(error)"])
        }
    }

    private func publish(_ membership: Membership) async {
        // Reads may finish out of order; never go back to an older epoch.
        if let previous = self.view.publish(membership), previous != membership.epoch {
            await self.adopted(membership)
            self.logger.info(
                "membership epoch \(membership.epoch)",
                metadata: ["previous": "\(previous)", "owners": "\(membership.placement?.members.map(\.id) ?? [])"]
            )
        }
    }
}
