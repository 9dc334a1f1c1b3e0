import FlashSaleCluster
import FlashSalePostgres
import FlashSaleTesting
import Foundation
import Testing

@testable import FlashSaleMembership

/// The membership SQL against a real PostgreSQL.
struct MembershipStoreTests {
    static func node(_ id: String, peerPort: Int = 7000) -> Membership.Node {
        Membership.Node(
            id: id,
            clientURL: "http://127.0.0.1:8000",
            peerAddress: "127.0.0.1:\(peerPort)",
            redisURL: "redis://127.0.0.1:6379",
            state: .active,
            skuCount: 3
        )
    }

    @Test func joinsRaiseTheEpochOncePerChange() throws {
        let postgres = try PostgresServer()
        defer { postgres.kill() }
        let connection = try PostgresConnection(url: postgres.url)
        try MembershipStore.migrate(connection)
        try MembershipStore.migrate(connection)
        #expect(try MembershipStore.read(connection).epoch == 0)

        let first = try MembershipStore.join(Self.node("n1"), leaseMilliseconds: 5000, connection)
        #expect(first.raisedEpoch && first.membership.epoch == 1)
        #expect(first.membership.node("n1")?.state == .active)
        let second = try MembershipStore.join(Self.node("n2"), leaseMilliseconds: 5000, connection)
        #expect(second.raisedEpoch && second.membership.epoch == 2)
        #expect(second.membership.nodes.map(\.id) == ["n1", "n2"])
        #expect(second.membership.node("n2")?.state == .joining)
        #expect(second.membership.nodes.allSatisfy { $0.isLive && $0.skuCount == 3 })

        // One change at a time: n3 waits until n2's join settles.
        #expect(throws: MembershipStoreError.self) {
            try MembershipStore.join(Self.node("n3"), leaseMilliseconds: 5000, connection)
        }
        // It settles once both report their handoffs done under epoch 2.
        try MembershipStore.heartbeat("n1", leaseMilliseconds: 5000, skuCount: 3, handoff: .init(epoch: 2, toMove: 4, moved: 4, isFinished: true), connection)
        #expect(try !MembershipStore.settleIfDone(connection))
        try MembershipStore.heartbeat("n2", leaseMilliseconds: 5000, skuCount: 3, handoff: .init(epoch: 2, isFinished: true), connection)
        #expect(try MembershipStore.settleIfDone(connection))
        let settled = try MembershipStore.read(connection)
        #expect(settled.epoch == 3 && settled.nodes.allSatisfy { $0.state == .active } && !settled.isRebalancing)
        #expect(settled.node("n1")?.handoff == .init(epoch: 2, toMove: 4, moved: 4, isFinished: true))

        // A restart at the same addresses is not a new membership.
        let restart = try MembershipStore.join(Self.node("n1"), leaseMilliseconds: 5000, connection)
        #expect(!restart.raisedEpoch && restart.membership.epoch == 3)
        // New addresses are.
        let moved = try MembershipStore.join(Self.node("n1", peerPort: 7001), leaseMilliseconds: 5000, connection)
        #expect(moved.raisedEpoch && moved.membership.epoch == 4)
        #expect(moved.membership.node("n1")?.peerAddress == "127.0.0.1:7001")
    }

    /// A node paused in the middle of a membership transaction (it holds the epoch row's lock)
    /// holds up the others' changes for at most its lease, not for as long as it stays paused.
    @Test func aNodePausedInsideAChangeHoldsTheEpochLockForAtMostALease() async throws {
        let postgres = try PostgresServer()
        defer { postgres.kill() }
        let paused = try PostgresConnection(url: postgres.url)
        for setting in MembershipService.sessionSettings(leaseMilliseconds: 500) { try paused.execute(setting) }
        try MembershipStore.migrate(paused)
        _ = try MembershipStore.join(Self.node("n1"), leaseMilliseconds: 5000, paused)
        try paused.execute("BEGIN")
        try paused.execute("SELECT epoch FROM cluster_epoch WHERE id = 1 FOR UPDATE")

        // Another node's join waits on the lock, and gets it once the paused session is ended
        // (or fails after 20 s, where it would otherwise wait for ever).
        let url = postgres.url
        let second = try await withCheckedThrowingContinuation { continuation in
            // The join blocks in libpq: on a thread of its own, not the cooperative pool.
            Thread.detachNewThread {
                continuation.resume(
                    with: Result {
                        let other = try PostgresConnection(url: url)
                        try other.execute("SET lock_timeout = 20000")
                        return try MembershipStore.join(Self.node("n2", peerPort: 7001), leaseMilliseconds: 5000, other)
                    }
                )
            }
        }
        #expect(second.raisedEpoch && second.membership.epoch == 2)
        #expect(throws: PostgresError.self) { try paused.execute("COMMIT") }
    }

    @Test func anOperatorAddsANodeAndRemovesOne() throws {
        let postgres = try PostgresServer()
        defer { postgres.kill() }
        let connection = try PostgresConnection(url: postgres.url)
        try MembershipStore.migrate(connection)
        _ = try MembershipStore.join(Self.node("n1"), leaseMilliseconds: 5000, connection)
        // Added before it runs: joining, not live until the node itself takes its lease.
        #expect(try MembershipStore.add(Self.node("n2"), connection))
        #expect(try !MembershipStore.add(Self.node("n2"), connection))
        var membership = try MembershipStore.read(connection)
        #expect(membership.node("n2")?.state == .joining && membership.node("n2")?.isLive == false)
        // Never run: not to be adopted (its shard may not exist yet); the first node has run.
        #expect(membership.node("n2")?.hasRun == false && membership.node("n1")?.hasRun == true)
        let started = try MembershipStore.join(Self.node("n2"), leaseMilliseconds: 5000, connection)
        #expect(!started.raisedEpoch && started.membership.node("n2")?.isLive == true)
        #expect(started.membership.node("n2")?.hasRun == true)
        #expect(throws: MembershipStoreError.self) { try MembershipStore.leave("n1", connection) }
        for id in ["n1", "n2"] {
            try MembershipStore.heartbeat(id, leaseMilliseconds: 5000, skuCount: 0, handoff: .init(epoch: 2, isFinished: true), connection)
        }
        #expect(try MembershipStore.settleIfDone(connection))

        #expect(throws: MembershipStoreError.unknownNode("n9 is not a member")) { try MembershipStore.leave("n9", connection) }
        #expect(try MembershipStore.leave("n1", connection))
        #expect(try !MembershipStore.leave("n1", connection))
        membership = try MembershipStore.read(connection)
        #expect(membership.epoch == 4 && membership.node("n1")?.state == .leaving)
        #expect(membership.placement?.members.map(\.id) == ["n2"])
        for id in ["n1", "n2"] {
            try MembershipStore.heartbeat(id, leaseMilliseconds: 5000, skuCount: 0, handoff: .init(epoch: 4, isFinished: true), connection)
        }
        #expect(try MembershipStore.settleIfDone(connection))
        membership = try MembershipStore.read(connection)
        #expect(membership.node("n1")?.state == .down && membership.node("n2")?.state == .active)
        #expect(throws: MembershipStoreError.refused("n2 is the last active node")) { try MembershipStore.leave("n2", connection) }
    }

    @Test func heartbeatsRenewTheLeaseAndReportTheEpoch() async throws {
        let postgres = try PostgresServer()
        defer { postgres.kill() }
        let connection = try PostgresConnection(url: postgres.url)
        try MembershipStore.migrate(connection)
        _ = try MembershipStore.join(Self.node("n1"), leaseMilliseconds: 200, connection)
        _ = try MembershipStore.add(Self.node("n2"), connection)
        _ = try MembershipStore.join(Self.node("n2"), leaseMilliseconds: 60_000, connection)
        #expect(try MembershipStore.heartbeat("n2", leaseMilliseconds: 60_000, skuCount: 17, connection) == (2, false))
        try await Task.sleep(for: .milliseconds(400))
        var membership = try MembershipStore.read(connection)
        #expect(membership.node("n1")?.isLive == false)
        #expect(membership.node("n2")?.isLive == true)
        #expect(membership.node("n2")?.skuCount == 17)
        // A down node keeps its SKUs in the placement (it may only be paused); it is live again after a heartbeat.
        #expect(membership.placement?.members.count == 2)
        try MembershipStore.heartbeat("n1", leaseMilliseconds: 5000, skuCount: 0, connection)
        membership = try MembershipStore.read(connection)
        #expect(membership.node("n1")?.isLive == true)
        #expect(throws: MembershipStoreError.notAMember("n9")) {
            try MembershipStore.heartbeat("n9", leaseMilliseconds: 5000, skuCount: 0, connection)
        }
    }

    @Test func aSurvivorAdoptsAGoneNodesShardUntilItComesBack() async throws {
        let postgres = try PostgresServer()
        defer { postgres.kill() }
        let connection = try PostgresConnection(url: postgres.url)
        try MembershipStore.migrate(connection)
        _ = try MembershipStore.join(Self.node("n1"), leaseMilliseconds: 60_000, connection)
        _ = try MembershipStore.add(Self.node("n2"), connection)
        _ = try MembershipStore.join(Self.node("n2"), leaseMilliseconds: 300, connection)
        for id in ["n1", "n2"] {
            try MembershipStore.heartbeat(id, leaseMilliseconds: id == "n1" ? 60_000 : 300, skuCount: 0, handoff: .init(epoch: 2, isFinished: true), connection)
        }
        #expect(try MembershipStore.settleIfDone(connection))
        // n2 is live: nothing to adopt.
        #expect(try !MembershipStore.adopt("n2", by: "n1", connection))
        try await Task.sleep(for: .milliseconds(500))
        #expect(try !MembershipStore.adopt("n2", by: "n9", connection), "only the chosen survivor adopts")
        #expect(try MembershipStore.adopt("n2", by: "n1", connection))
        #expect(try !MembershipStore.adopt("n2", by: "n1", connection), "adopted once")
        var membership = try MembershipStore.read(connection)
        #expect(membership.epoch == 4 && membership.node("n2")?.adoptedBy == "n1")
        // n2 comes back: its heartbeat takes the shard back under a new epoch.
        #expect(try MembershipStore.heartbeat("n2", leaseMilliseconds: 5000, skuCount: 0, connection) == (5, true))
        #expect(try MembershipStore.heartbeat("n2", leaseMilliseconds: 5000, skuCount: 0, connection) == (5, false))
        membership = try MembershipStore.read(connection)
        #expect(membership.node("n2")?.adoptedBy == nil && membership.node("n2")?.isLive == true)
    }

    @Test func aShardsServersAreRecordedByItsNodeAndWhileAdoptedByItsAdopterOnly() async throws {
        let postgres = try PostgresServer()
        defer { postgres.kill() }
        let connection = try PostgresConnection(url: postgres.url)
        try MembershipStore.migrate(connection)
        var n2 = Self.node("n2", peerPort: 7002)
        (n2.redisURL, n2.replicaURL) = ("redis://127.0.0.1:6002", "redis://127.0.0.1:6102")
        _ = try MembershipStore.join(Self.node("n1"), leaseMilliseconds: 60_000, connection)
        _ = try MembershipStore.join(n2, leaseMilliseconds: 300, connection)
        #expect(try MembershipStore.read(connection).node("n2")?.replicaURL == "redis://127.0.0.1:6102")
        for id in ["n1", "n2"] {
            try MembershipStore.heartbeat(id, leaseMilliseconds: id == "n1" ? 60_000 : 300, skuCount: 0, handoff: .init(epoch: 2, isFinished: true), connection)
        }
        #expect(try MembershipStore.settleIfDone(connection))
        // n2's guardian promoted the replica: its heartbeat says so, and the epoch stays.
        let promoted = ShardServers(primary: "redis://127.0.0.1:6102", replica: "redis://127.0.0.1:6002")
        let epoch = try MembershipStore.read(connection).epoch
        _ = try MembershipStore.heartbeat("n2", leaseMilliseconds: 300, skuCount: 0, shard: promoted, connection)
        var recorded = try #require(try MembershipStore.read(connection).node("n2"))
        #expect(recorded.redisURL == promoted.primary && recorded.replicaURL == promoted.replica)
        #expect(try MembershipStore.read(connection).epoch == epoch)
        // Started again with its configuration (the servers the other way round): nothing changes.
        #expect(try MembershipStore.join(n2, leaseMilliseconds: 300, connection).raisedEpoch == false)
        #expect(try MembershipStore.read(connection).node("n2")?.redisURL == promoted.primary)
        // Only the node that adopted n2's shard records where it is while n2 is gone.
        try await Task.sleep(for: .milliseconds(500))
        try MembershipStore.recordShard(ShardServers(primary: n2.redisURL, replica: n2.replicaURL), of: "n2", adoptedBy: "n1", connection)
        #expect(try MembershipStore.read(connection).node("n2")?.redisURL == promoted.primary, "not adopted yet")
        #expect(try MembershipStore.adopt("n2", by: "n1", connection))
        try MembershipStore.recordShard(ShardServers(primary: n2.redisURL, replica: n2.replicaURL), of: "n2", adoptedBy: "n1", connection)
        recorded = try #require(try MembershipStore.read(connection).node("n2"))
        #expect(recorded.redisURL == n2.redisURL && recorded.replicaURL == n2.replicaURL)
    }
}
