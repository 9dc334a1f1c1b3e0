import FlashSaleCluster
import FlashSalePostgres
import FlashSaleTesting
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
        let second = try MembershipStore.join(Self.node("n2"), leaseMilliseconds: 5000, connection)
        #expect(second.raisedEpoch && second.membership.epoch == 2)
        #expect(second.membership.nodes.map(\.id) == ["n1", "n2"])
        #expect(second.membership.nodes.allSatisfy { $0.isLive && $0.state == .active && $0.skuCount == 3 })

        // A restart at the same addresses is not a new membership.
        let restart = try MembershipStore.join(Self.node("n1"), leaseMilliseconds: 5000, connection)
        #expect(!restart.raisedEpoch && restart.membership.epoch == 2)
        // New addresses are.
        let moved = try MembershipStore.join(Self.node("n1", peerPort: 7001), leaseMilliseconds: 5000, connection)
        #expect(moved.raisedEpoch && moved.membership.epoch == 3)
        #expect(moved.membership.node("n1")?.peerAddress == "127.0.0.1:7001")
    }

    @Test func heartbeatsRenewTheLeaseAndReportTheEpoch() async throws {
        let postgres = try PostgresServer()
        defer { postgres.kill() }
        let connection = try PostgresConnection(url: postgres.url)
        try MembershipStore.migrate(connection)
        _ = try MembershipStore.join(Self.node("n1"), leaseMilliseconds: 200, connection)
        _ = try MembershipStore.join(Self.node("n2"), leaseMilliseconds: 60_000, connection)
        #expect(try MembershipStore.heartbeat("n2", leaseMilliseconds: 60_000, skuCount: 17, connection) == 2)
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
}
