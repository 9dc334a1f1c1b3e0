import FlashSaleClient
import FlashSaleCore
import FlashSalePostgres
import FlashSaleRedis
import FlashSaleSync
import FlashSaleTesting
import Foundation
import Synchronization
import Testing

/// Issue 16: a shard with a replica. A node acknowledges only what the replica has; when the
/// primary is lost for good (killed, its data deleted) during a sale, the node promotes the
/// replica, no acknowledged reservation is lost, and the SKUs sell again within the lease and 2 s
/// (the lost server comes back empty and on its own, as a replaced host would, and the node makes
/// it the new primary's replica).
/// A paused old primary that wakes after the promotion cannot take a write.
@Suite(.serialized) struct ShardFailoverTests {
    static let lease = Duration.seconds(2)

    /// A primary and its replica (each refusing writes without a replica), PostgreSQL and one node
    /// that promotes the replica 2 s after the primary stops answering.
    struct Shard {
        let postgres: PostgresServer
        let primary: RedisServer
        let replica: RedisServer
        let node: NodeProcess
        let client: FlashSaleClient

        func stop() {
            self.node.signal(SIGKILL)
            self.primary.kill()
            self.replica.kill()
            self.postgres.kill()
        }
    }

    static func start() async throws -> Shard {
        let postgres = try PostgresServer()
        let primary = try RedisServer(minReplicasToWrite: 1)
        let replica = try RedisServer(replicaOf: primary.port, minReplicasToWrite: 1)
        try await primary.waitUntilReplicated()
        let settings = #"""
            {"redis": {"replicas": 1, "replicaWaitMs": 300, "replicaUrl": "\#(replica.url)", "failoverAfterMs": 2000},
             "membership": {"leaseMs": 2000}, "limits": {"userPerSecond": 0}}
            """#
        let node = try NodeProcess(id: "n1", redisURL: primary.url, postgresURL: postgres.url, settings: settings)
        let client = try FlashSaleClient(
            configuration: .init(
                nodeURLs: ["http://127.0.0.1:\(node.httpPort)"], token: "test", routing: .anyNode,
                retry: RetryPolicy(attemptsMax: 200, timeBudget: .seconds(20), firstDelay: .milliseconds(20), delayMax: .milliseconds(200)),
                requestTimeout: .seconds(3)
            )
        )
        for _ in 0..<300 where !(await client.isReady("http://127.0.0.1:\(node.httpPort)")) {
            try await Task.sleep(for: .milliseconds(100))
        }
        return Shard(postgres: postgres, primary: primary, replica: replica, node: node, client: client)
    }

    /// Waits until the server on `url` answers as a primary of a generation above 0 (promoted).
    static func waitUntilPromoted(_ url: String, seconds: Int = 15) async throws {
        for _ in 0..<(seconds * 20) {
            if case .primary(let generation) = try? await ShardAdministration.role(of: url), generation > 0 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestServerError.didNotStart("a promotion of \(url)")
    }

    /// Whether the server on `url` answers as a replica within `seconds`.
    static func becomesReplica(_ url: String, seconds: Int = 10) async -> Bool {
        for _ in 0..<(seconds * 10) {
            if case .replica = try? await ShardAdministration.role(of: url) { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    /// `count` buyers reserving `skus` in turn through `client` until `stop` (at most 5,000 each),
    /// each request a user and requestId of its own; every acknowledgement and failure goes to `log`.
    static func buyers(_ count: Int, skus: [String], through client: FlashSaleClient, requestPrefix: String, log: Log, stop: StopFlag) -> Task<Void, Never> {
        Task {
            await withTaskGroup(of: Void.self) { group in
                for buyer in 0..<count {
                    group.addTask {
                        var number = 0
                        while !stop.isSet, number < 5_000 {
                            number += 1
                            let sku = skus[number % skus.count]
                            let sent = ContinuousClock.now
                            do {
                                let made = try await client.reserve(sku: sku, user: "u\(buyer)-\(number)", requestId: "\(requestPrefix)\(buyer)-\(number)")
                                log.acknowledged.withLock { $0.append((sku, made.value.id, sent, .now)) }
                            } catch {
                                log.failures.withLock { $0.append("\(error)") }
                            }
                        }
                    }
                }
            }
        }
    }

    final class Log: Sendable {
        /// Acknowledged reservations: SKU, id, when the request was sent and when its answer came.
        let acknowledged = Mutex<[(sku: String, id: String, sent: ContinuousClock.Instant, at: ContinuousClock.Instant)]>([])
        let failures = Mutex<[String]>([])

        /// How long after `lostAt` the first reservation asked for after it was acknowledged,
        /// looked for every 50 ms up to `polls` times; nil when none was by then.
        func servedAgain(after lostAt: ContinuousClock.Instant, polls: Int) async throws -> Duration? {
            for _ in 0..<polls {
                try await Task.sleep(for: .milliseconds(50))
                if let after = self.acknowledged.withLock({ $0.first { $0.sent > lostAt }.map { $0.at - lostAt } }) { return after }
            }
            return nil
        }
    }

    @Test func aPrimaryLostForGoodDuringASaleLosesNoAcknowledgedReservation() async throws {
        let shard = try await Self.start()
        defer { shard.stop() }
        let skus = (0..<4).map { "lost-\($0)" }
        for sku in skus { _ = try await shard.client.defineSKU(sku, SaleTerms(stock: 1_000_000, perUserLimit: 1_000_000)) }

        let log = Log()
        let stop = StopFlag()
        let buyers = Self.buyers(4, skus: skus, through: shard.client, requestPrefix: "b", log: log, stop: stop)
        try await Task.sleep(for: .seconds(2))
        let before = log.acknowledged.withLock { $0.count }
        let lostAt = ContinuousClock.now
        shard.primary.kill()
        try shard.primary.wipe()
        // The replacement comes back empty and on its own: the node attaches it as the new replica.
        try await Self.waitUntilPromoted(shard.replica.url)
        try shard.primary.restart(asReplicaOf: nil)
        let servedAgainAfter = try await log.servedAgain(after: lostAt, polls: 200)
        #expect(await Self.becomesReplica(shard.primary.url), "the node did not attach the replacement as a replica")
        try await Task.sleep(for: .seconds(1))
        stop.set()
        await buyers.value

        let acknowledged = log.acknowledged.withLock { $0 }
        let failures = log.failures.withLock { $0 }
        print("primary lost: \(before) acknowledged before, \(acknowledged.count) in all; sold again after \(String(describing: servedAgainAfter)); \(failures.count) failed")
        #expect(before > 0)
        #expect(failures.isEmpty, "\(failures.count) failed, first \(failures.first ?? "")")
        let served = try #require(servedAgainAfter, "nothing was sold after the primary was lost")
        #expect(served <= Self.lease + .seconds(2), "the SKUs sold again \(served) after the primary was lost")
        // Every acknowledged reservation is there, on the promoted replica, through the node.
        for (sku, id, _, _) in acknowledged {
            let reservation = try await shard.client.reservation(sku: sku, id: id)
            #expect(reservation.status == .reserved, "\(id)")
        }
        var reserved: Int64 = 0
        for sku in skus { reserved += try await shard.client.sku(sku).reserved }
        #expect(reserved >= Int64(acknowledged.count))
        // The record caught up with the promoted shard, registered at its new address, and agrees.
        guard case .caughtUp(let differences) = try await RecordAudit.caughtUp(postgresURL: shard.postgres.url, seconds: 20) else {
            Issue.record("the record did not catch up with the promoted shard")
            return
        }
        #expect(differences.isEmpty, "\(differences.prefix(3))")
        let record = PostgresClient(url: shard.postgres.url)
        let registered = try await record.withConnection {
            try $0.execute("SELECT redis_url FROM shards WHERE node_id = 'n1'").first?.first ?? nil
        }
        await record.stop()
        #expect(registered == shard.replica.url)
    }

    @Test func aPausedOldPrimaryThatWakesAfterThePromotionCannotTakeAWrite() async throws {
        let shard = try await Self.start()
        defer { shard.stop() }
        _ = try await shard.client.defineSKU("shoe", SaleTerms(stock: 10, perUserLimit: 10))
        let first = try await shard.client.reserve(sku: "shoe", user: "ann", requestId: "ann-1")

        shard.primary.signal(SIGSTOP)
        try await Self.waitUntilPromoted(shard.replica.url)
        shard.primary.signal(SIGCONT)
        // At once, as a node that slept through it all would write: through the product's store,
        // which waits for a replica, on the old primary.
        let stale = shard.primary.client(replication: .init(replicas: 1, timeoutMilliseconds: 300))
        let staleStore = SKUStore.quiet(on: stale)
        await #expect(throws: SaleError.self) { try await staleStore.reserve(sku: "shoe", user: "late", quantity: 1, requestId: "late-1") }
        // Past Redis's one-second refresh of its replicas, nor does a plain write get in.
        try await Task.sleep(for: .milliseconds(1_200))
        let raw = shard.primary.client()
        let refused = try await raw.send(["SET", "fs:late", "1"])
        guard case .error(let message) = refused else {
            Issue.record("the old primary took a plain write: \(refused)")
            return
        }
        #expect(message.hasPrefix("NOREPLICAS") || message.hasPrefix("READONLY"), "\(message)")
        // The node made it follow the new primary; the late reservation is nowhere, the first is kept.
        var demoted = false
        for _ in 0..<60 where !demoted {
            if case .replica = try? await ShardAdministration.role(of: shard.primary.url) { demoted = true }
            if !demoted { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(demoted, "the old primary still answers as a primary")
        let onNewPrimary = shard.replica.client()
        #expect(try await onNewPrimary.send(["HGET", "fs:{shoe}:req", "late-1"]) == .null)
        #expect(try await onNewPrimary.send(["HEXISTS", "fs:{shoe}:res", first.value.id]).integer == 1)
        await stale.stop()
        await raw.stop()
        await onNewPrimary.stop()
    }
}
