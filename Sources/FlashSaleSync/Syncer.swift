public import FlashSaleCore
import FlashSalePostgres
import FlashSaleRecord
public import FlashSaleRedis
public import Logging
import Metrics
public import ServiceLifecycle
import Synchronization

/// The leader-elected, fenced syncer. Every node runs one; the lease decides which one flushes.
/// The leader reads every registered shard's outbox in batches, writes each batch to PostgreSQL in
/// one fenced transaction together with the shard's position, and only then trims the outbox.
public final class Syncer: Service, Sendable {
    public struct Configuration: Sendable {
        public var nodeID: String
        /// This node's shard as registered for the leader to read: its primary now (a promoted
        /// replica's URL once `ShardGuardian` has moved the node to it).
        public var redisURL: @Sendable () -> String
        /// The primaries of the shards this node adopted and guards, by node id: registered in
        /// their nodes' place when a promotion moves them.
        public var adoptedShardURLs: @Sendable () -> [String: String]
        public var leaseTTL: Duration
        public var batchSizeMax: Int
        public var inventoryRetriesMax: Int
        public var idleDelay: Duration
        /// Outbox entries a shard may hold before it refuses new reservations (PostgreSQL down).
        public var outboxLimit: Int
        /// When shards have replicas: a batch is recorded only once the replicas have it, so that
        /// the record never holds a change a promoted replica does not.
        public var replication: RedisClient.Replication?

        public init(
            nodeID: String,
            redisURL: @escaping @Sendable () -> String,
            adoptedShardURLs: @escaping @Sendable () -> [String: String] = { [:] },
            leaseTTL: Duration = .seconds(5),
            batchSizeMax: Int = 1024,
            inventoryRetriesMax: Int = 5,
            idleDelay: Duration = .milliseconds(50),
            outboxLimit: Int = 1_000_000,
            replication: RedisClient.Replication? = nil
        ) {
            self.nodeID = nodeID
            self.redisURL = redisURL
            self.adoptedShardURLs = adoptedShardURLs
            self.leaseTTL = leaseTTL
            self.batchSizeMax = batchSizeMax
            self.inventoryRetriesMax = inventoryRetriesMax
            self.idleDelay = idleDelay
            self.outboxLimit = outboxLimit
            self.replication = replication
        }
    }

    private let configuration: Configuration
    private let postgres: PostgresClient
    private let localStore: SKUStore
    private var localShard: RedisClient { self.localStore.scripts.client }
    private let writer: RecordWriter
    private let logger: Logger
    private let status = Mutex(ClusterStatus.Syncer(leader: nil, fencingEpoch: 0, lagSeconds: nil))
    private let remoteShards = Mutex<[String: RedisClient]>([:])
    private let rowsFlushed = Counter(label: "flashsale_syncer_events_flushed_total")
    private let conflictsRetried = Counter(label: "flashsale_syncer_inventory_conflicts_retried_total")
    private let batchSizes = Recorder(label: "flashsale_syncer_batch_size")
    private let lagGauge = Gauge(label: "flashsale_syncer_lag_seconds")
    private let warnings = ThrottledWarnings()
    private let clock: any ServiceClock

    public init(
        configuration: Configuration,
        postgresURL: String,
        localStore: SKUStore,
        clock: any ServiceClock = SystemClock(),
        logger: Logger
    ) {
        self.configuration = configuration
        self.clock = clock
        let ttlMilliseconds = configuration.leaseTTL / .milliseconds(1)
        // A leader paused inside a flush must not hold the lease row's lock past its lease.
        let idleTimeout = Int64(ttlMilliseconds)
        self.postgres = PostgresClient(
            url: postgresURL,
            sessionSettings: ["SET idle_in_transaction_session_timeout = \(idleTimeout)"]
        )
        self.localStore = localStore
        self.writer = RecordWriter(holder: configuration.nodeID)
        self.logger = logger
    }

    /// What `GET /v1/cluster` shows under `syncer`.
    public var clusterStatus: ClusterStatus.Syncer {
        self.status.withLock { $0 }
    }

    public func run() async throws {
        var registered = [self.configuration.nodeID: await self.prepare()]
        var schedule = SyncerSchedule(
            leaseTTL: self.configuration.leaseTTL, idleDelay: self.configuration.idleDelay, now: self.clock.now
        )
        var positions: [String: String] = [:]
        var shards: [(nodeID: String, redisURL: String)] = []
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            // A promotion moved this node's shard, or an adopted one: the leader must read it where it is now.
            let current = self.configuration.adoptedShardURLs().merging([self.configuration.nodeID: self.configuration.redisURL()]) { $1 }
            // A shard no longer adopted is registered again if it is adopted again, wherever it is then.
            registered = registered.filter { current[$0.key] != nil }
            for (nodeID, url) in current where registered[nodeID] != url {
                if await self.register(url, shardOf: nodeID) { registered[nodeID] = url }
            }
            let now = self.clock.now
            switch schedule.next(now: now) {
            case .wait(let until):
                await self.pause(until: until)
            case .acquire:
                await self.acquire(&schedule, sentAt: now)
                positions = [:]
            case .renew(let epoch):
                await self.renew(&schedule, epoch: epoch, sentAt: now)
            case .flush(let epoch, let readShards):
                do {
                    if readShards {
                        let writer = self.writer
                        shards = try await self.postgres.withConnection { try writer.shards($0) }
                        schedule.shardsRead(now: now)
                    }
                    let flushed = try await self.flushAll(epoch: epoch, shards: shards, positions: &positions)
                    schedule.flushed(events: flushed, now: self.clock.now)
                } catch RecordError.fenced {
                    self.logger.warning("the syncer lease moved on; this node stops flushing", metadata: ["epoch": "\(epoch)"])
                    schedule.lost(now: self.clock.now)
                } catch {
                    self.logger.warning("flush failed", metadata: ["error": "\(error)"])
                    positions = [:]
                    schedule.flushFailed(now: self.clock.now)
                }
            }
        }
        await self.postgres.stop()
        for client in self.remoteShards.withLock({ Array($0.values) }) { await client.stop() }
    }

    /// Bounds this shard's outbox, creates the schema and registers the shard, retrying until
    /// Redis and PostgreSQL answer; answers the URL registered.
    private func prepare() async -> String {
        let redisURL = self.configuration.redisURL()
        let writer = self.writer
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await self.localStore.setOutboxLimit(self.configuration.outboxLimit)
                try await self.postgres.withConnection { connection in
                    try RecordSchema.migrate(connection)
                    try writer.register(connection, redisURL: redisURL)
                }
                return redisURL
            } catch {
                self.logger.warning("PostgreSQL is not ready for the syncer", metadata: ["error": "\(error)"])
                await self.pause(until: self.clock.now + .seconds(1))
            }
        }
        return redisURL
    }

    /// Registers node `nodeID`'s shard at `redisURL`; false when PostgreSQL did not take it (the
    /// next pass tries again).
    private func register(_ redisURL: String, shardOf nodeID: String) async -> Bool {
        let writer = self.writer
        do {
            try await self.postgres.withConnection { try writer.register($0, shardOf: nodeID, redisURL: redisURL) }
            self.logger.notice("the record reads a shard at its primary", metadata: ["shard": "\(nodeID)", "redis": "\(redisURL)"])
            return true
        } catch {
            self.logger.warning("cannot register the shard's new primary yet", metadata: ["error": "\(error)"])
            return false
        }
    }

    private func acquire(_ schedule: inout SyncerSchedule, sentAt: ContinuousClock.Instant) async {
        let writer = self.writer
        let ttl = Int64(self.configuration.leaseTTL / .milliseconds(1))
        do {
            let (epoch, view) = try await self.postgres.withConnection { connection in
                let epoch = try writer.acquire(connection, ttlMilliseconds: ttl)
                return (epoch, try writer.lease(connection))
            }
            if let epoch {
                schedule.acquired(epoch: epoch, sentAt: sentAt)
                self.logger.info("leading the syncer", metadata: ["fencingEpoch": "\(epoch)"])
            } else {
                schedule.acquireFailed(now: self.clock.now)
            }
            self.publish(view)
        } catch {
            schedule.acquireFailed(now: self.clock.now)
        }
    }

    private func renew(_ schedule: inout SyncerSchedule, epoch: Int64, sentAt: ContinuousClock.Instant) async {
        let writer = self.writer
        let ttl = Int64(self.configuration.leaseTTL / .milliseconds(1))
        do {
            let (renewed, view) = try await self.postgres.withConnection { connection in
                (try writer.renew(connection, epoch: epoch, ttlMilliseconds: ttl), try writer.lease(connection))
            }
            if renewed { schedule.renewed(epoch: epoch, sentAt: sentAt) } else { schedule.lost(now: self.clock.now) }
            self.publish(view)
        } catch {
            schedule.renewFailed(now: self.clock.now)
        }
    }

    /// One pass over every registered shard: at most one batch each. Returns events flushed.
    private func flushAll(epoch: Int64, shards: [(nodeID: String, redisURL: String)], positions: inout [String: String]) async throws -> Int {
        var flushed = 0
        var lagMilliseconds: Int64 = 0
        for shard in shards {
            do {
                let (count, lag) = try await self.flush(shard: shard, epoch: epoch, positions: &positions)
                flushed += count
                lagMilliseconds = max(lagMilliseconds, lag)
            } catch let error as RedisClientError {
                // One unreachable shard must not hold up the others' record; PostgreSQL errors and
                // fencing end the whole pass (the caller pauses or steps down).
                self.warnings.warning(self.logger, "cannot read a shard's outbox", key: shard.nodeID, metadata: ["shard": "\(shard.nodeID)", "error": "\(error)"])
                positions[shard.nodeID] = nil
            }
        }
        let lagSeconds = Double(max(0, lagMilliseconds)) / 1000
        self.lagGauge.record(lagSeconds)
        self.status.withLock { $0 = .init(leader: self.configuration.nodeID, fencingEpoch: epoch, lagSeconds: lagSeconds) }
        return flushed
    }

    /// Flushes at most one batch of one shard's outbox; returns the events flushed and their lag.
    private func flush(
        shard: (nodeID: String, redisURL: String),
        epoch: Int64,
        positions: inout [String: String]
    ) async throws -> (count: Int, lagMilliseconds: Int64) {
        let writer = self.writer
        let client = self.client(for: shard.nodeID, url: shard.redisURL)
        if positions[shard.nodeID] == nil {
            let stored = try await self.postgres.withConnection { try writer.position($0, shard: shard.nodeID) }
            positions[shard.nodeID] = stored ?? "0-0"
        }
        let after = positions[shard.nodeID]!
        let read = ["XRANGE", SKUKeys.outbox, "(\(after)", "+", "COUNT", String(self.configuration.batchSizeMax)]
        // With replicas, a write after the read makes the round trip's WAIT cover every entry
        // the read saw (replication keeps the primary's order), whichever connection wrote them.
        let commands = self.configuration.replication == nil ? [read] : [read, ["SET", SKUKeys.syncerReplicationMark, after]]
        let events = try OutboxEvent.parse(try await client.send(commands)[0])
        guard let last = events.last else { return (0, 0) }
        let lag = max(0, self.clock.unixMilliseconds - events[0].appendedAtMilliseconds)
        let retriesMax = self.configuration.inventoryRetriesMax
        let retries = try await self.postgres.withConnection { connection in
            try writer.flush(
                connection, shard: shard.nodeID, events: events, epoch: epoch,
                lagMilliseconds: lag, inventoryRetriesMax: retriesMax
            )
        }
        positions[shard.nodeID] = last.streamID
        // Only now, with the rows and the position committed, may the outbox shrink.
        _ = try? await client.send(["XTRIM", SKUKeys.outbox, "MINID", last.streamID])
        self.rowsFlushed.increment(by: events.count)
        self.batchSizes.record(events.count)
        if retries > 0 { self.conflictsRetried.increment(by: retries) }
        return (events.count, lag)
    }

    private func client(for nodeID: String, url: String) -> RedisClient {
        if nodeID == self.configuration.nodeID { return self.localShard }
        return self.remoteShards.withLock { clients in
            if let client = clients[nodeID], client.endpoint.description == url { return client }
            let endpoint = (try? RedisEndpoint(url: url)) ?? RedisEndpoint(host: "127.0.0.1", port: 0)
            let client = RedisClient(
                endpoint: endpoint, configuration: .init(connectionCount: 1, replication: self.configuration.replication), logger: self.logger
            )
            client.start()
            clients[nodeID] = client
            return client
        }
    }

    private func publish(_ view: RecordWriter.LeaseView?) {
        guard let view else { return }
        self.status.withLock {
            $0 = .init(
                leader: view.isLive ? view.holder : nil,
                fencingEpoch: view.epoch,
                lagSeconds: view.lagMilliseconds.map { Double($0) / 1000 }
            )
        }
    }

    private func pause(until deadline: ContinuousClock.Instant) async {
        try? await cancelWhenGracefulShutdown { try await self.clock.sleep(until: deadline) }
    }
}
