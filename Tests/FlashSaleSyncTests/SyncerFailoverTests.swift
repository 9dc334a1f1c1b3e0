import FlashSaleCore
import FlashSalePostgres
import FlashSaleRedis
import FlashSaleSync
import FlashSaleTesting
import Foundation
import Logging
import Synchronization
import Testing

/// Real `flashsale node` processes sharing one PostgreSQL, each with its own Redis shard. The test
/// writes sales straight into the shards (the scripts are the only writers of stock) while it kills
/// and pauses the syncer leader, then checks the record: every acknowledged reservation once, in its
/// final state, and every SKU's counters equal.
@Suite(.serialized) struct SyncerFailoverTests {
    static let leaseMilliseconds = 1500

    static let settings = #"{"syncer": {"leaseTtlMs": \#(SyncerFailoverTests.leaseMilliseconds)}}"#

    /// Acknowledged sales so far, for a test to wait on.
    final class SaleTally: Sendable {
        let count = Atomic<Int>(0)
    }

    /// Sells on both shards until stopped; returns every acknowledged reservation in its last known state.
    static func sell(_ cluster: TestCluster, until stop: StopFlag, tally: SaleTally = SaleTally()) async -> [Reservation] {
        await withTaskGroup(of: [Reservation].self) { group in
            for (index, shard) in cluster.shards.enumerated() {
                group.addTask {
                    var acknowledged: [Reservation] = []
                    var attempt = 0
                    while !stop.isSet && attempt < 50_000 {
                        attempt += 1
                        guard var reservation = try? await shard.store.reserve(
                            sku: "sku\(index)", user: "u\(attempt % 97)", quantity: 1, requestId: "r\(attempt)"
                        ).reservation else { continue }
                        switch attempt % 3 {
                        case 0: reservation = (try? await shard.store.commit(sku: "sku\(index)", id: reservation.id)) ?? reservation
                        case 1: reservation = (try? await shard.store.release(sku: "sku\(index)", id: reservation.id)) ?? reservation
                        default: break
                        }
                        acknowledged.append(reservation)
                        tally.count.add(1, ordering: .relaxed)
                    }
                    return acknowledged
                }
            }
            return await group.reduce(into: []) { $0.append(contentsOf: $1) }
        }
    }

    static func verifyRecord(_ cluster: TestCluster, acknowledged: [Reservation]) async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .error
        let audit = RecordAudit(postgresURL: cluster.postgres.url, logger: logger)
        var outcome = try await audit.run()
        for _ in 0..<100 {
            if case .caughtUp = outcome { break }
            try await Task.sleep(for: .milliseconds(100))
            outcome = try await audit.run()
        }
        #expect(outcome == .caughtUp([]), "the record does not agree with the shards")
        let rows = try PostgresConnection(url: cluster.postgres.url).execute("SELECT id, status FROM reservations")
        let recorded = Dictionary(uniqueKeysWithValues: rows.compactMap { row in row[0].map { ($0, row[1] ?? "") } })
        var missing = 0
        for reservation in acknowledged {
            guard let status = recorded[reservation.id] else { missing += 1; continue }
            if reservation.status == .committed { #expect(status == "committed", "\(reservation.id)") }
            if reservation.status == .released { #expect(status == "released", "\(reservation.id)") }
        }
        #expect(missing == 0, "\(missing) acknowledged reservations are not in the record")
    }

    static func prepare(_ cluster: TestCluster) async throws {
        for (index, shard) in cluster.shards.enumerated() {
            _ = try await shard.store.defineSKU("sku\(index)", settings: SKUSettings(stock: 1_000_000, perUserLimit: 1_000_000))
        }
    }

    @Test func killingTheLeaderMidSaleLosesNothingAndWritesNothingTwice() async throws {
        try await TestCluster.with(nodes: 2, peers: false, settings: Self.settings) { cluster in
            try await Self.prepare(cluster)
            let first = try await cluster.waitForSyncerLeader()
            let stop = StopFlag()
            let tally = SaleTally()
            async let sold = Self.sell(cluster, until: stop, tally: tally)
            try await Task.sleep(for: .milliseconds(700))
            cluster.node(first.holder).signal(SIGKILL)
            let second = try await cluster.waitForSyncerLeader(other: first.holder)
            #expect(second.epoch > first.epoch)
            // Sales go on under the new leader: more than 20 of them, however busy the machine is
            // (at most 10 s; at least the 700 ms the test always gave them).
            let atFailover = tally.count.load(ordering: .relaxed)
            let soldOn = ContinuousClock.now
            while tally.count.load(ordering: .relaxed) - atFailover <= 20 || ContinuousClock.now - soldOn < .milliseconds(700),
                ContinuousClock.now - soldOn < .seconds(10)
            {
                try await Task.sleep(for: .milliseconds(50))
            }
            stop.set()
            let acknowledged = await sold
            #expect(acknowledged.count - atFailover > 20, "\(acknowledged.count - atFailover) sales after the failover")
            try await Self.verifyRecord(cluster, acknowledged: acknowledged)
        }
    }

    @Test func aLeaderPausedPastItsLeaseCannotCommitAFlush() async throws {
        try await TestCluster.with(nodes: 2, peers: false, settings: Self.settings) { cluster in
            try await Self.prepare(cluster)
            let first = try await cluster.waitForSyncerLeader()
            let stop = StopFlag()
            async let sold = Self.sell(cluster, until: stop)
            try await Task.sleep(for: .milliseconds(500))
            let paused = cluster.node(first.holder)
            paused.signal(SIGSTOP)
            let second = try await cluster.waitForSyncerLeader(other: first.holder)
            #expect(second.epoch > first.epoch)
            try await Task.sleep(for: .milliseconds(500))
            paused.signal(SIGCONT)
            // Awake, the old leader may try to finish what it was doing: its epoch is fenced.
            try await Task.sleep(for: .milliseconds(Self.leaseMilliseconds))
            stop.set()
            let acknowledged = await sold
            let now = try await cluster.waitForSyncerLeader()
            #expect(now.epoch >= second.epoch)
            try await Self.verifyRecord(cluster, acknowledged: acknowledged)
        }
    }
}

extension TestCluster {
    /// The node holding a live syncer lease, and its fencing epoch.
    func syncerLeader() throws -> (holder: String, epoch: Int64)? {
        let record = try PostgresConnection(url: self.postgres.url)
        guard let row = try record.execute("SELECT holder, epoch FROM syncer_lease WHERE expires_at > now()").first,
            let holder = row[0], let epoch = row[1].flatMap({ Int64($0) })
        else { return nil }
        return (holder, epoch)
    }

    func waitForSyncerLeader(other excluded: String? = nil) async throws -> (holder: String, epoch: Int64) {
        for _ in 0..<200 {
            if let leader = try? self.syncerLeader(), leader.holder != excluded { return leader }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestServerError.didNotStart("a syncer leader")
    }
}
