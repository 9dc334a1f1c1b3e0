import FlashSaleClient
import FlashSaleCluster
import FlashSaleCore
import FlashSalePostgres
import FlashSaleRedis
import FlashSaleSync
import FlashSaleTesting
import Foundation
import HTTPTypes
import Synchronization
import Testing

/// Issue 16, a host lost whole: a node and its shard's primary die together (SIGKILL, the
/// primary's data deleted) during a sale. The survivor that adopts the shard promotes its replica,
/// and attaches the lost server, back empty on its own, as the new replica; the node, started
/// again with its configuration as it was, serves from the promoted primary. No acknowledged
/// reservation is lost, and the record agrees.
@Suite(.serialized) struct ShardAdoptionFailoverTests {
    static let lease = Duration.seconds(2)
    static let failoverAfter = Duration.seconds(2)

    struct Host {
        let primary: RedisServer
        let replica: RedisServer
        let node: NodeProcess
    }

    static func startHost(_ id: String, postgres: PostgresServer, tls: URL) async throws -> Host {
        let primary = try RedisServer(minReplicasToWrite: 1)
        let replica = try RedisServer(replicaOf: primary.port, minReplicasToWrite: 1)
        try await primary.waitUntilReplicated()
        let settings = #"""
            {"redis": {"replicas": 1, "replicaWaitMs": 300, "replicaUrl": "\#(replica.url)", "failoverAfterMs": 2000},
             "membership": {"leaseMs": 2000}, "limits": {"userPerSecond": 0}}
            """#
        let node = try NodeProcess(id: id, redisURL: primary.url, postgresURL: postgres.url, settings: settings, tlsDirectory: tls)
        return Host(primary: primary, replica: replica, node: node)
    }

    @Test func aNodeLostWithItsPrimaryHasItsReplicaPromotedByItsAdopter() async throws {
        let postgres = try PostgresServer()
        let tls = try TestCertificates.make(nodes: ["n1", "n2"])
        let n1 = try await Self.startHost("n1", postgres: postgres, tls: tls)
        let n2 = try await Self.startHost("n2", postgres: postgres, tls: tls)
        defer {
            for host in [n1, n2] {
                host.node.signal(SIGKILL)
                host.primary.kill()
                host.replica.kill()
            }
            postgres.kill()
        }
        for port in [n1.node.httpPort, n2.node.httpPort] { try await TestCluster.waitUntilSettled(port: port, active: ["n1", "n2"]) }
        // SKUs n1 owns, bought through n2 (which forwards to n1, then serves them as n1's adopter).
        let owners = TestCluster.membership(active: ["n1", "n2"])
        let skus = Array((0...).lazy.map { "host-\($0)" }.filter { owners.owner(of: $0)?.id == "n1" }.prefix(3))
        let buyer = try FlashSaleClient(
            configuration: .init(
                nodeURLs: ["http://127.0.0.1:\(n2.node.httpPort)"], token: "test", routing: .anyNode,
                retry: RetryPolicy(attemptsMax: 400, timeBudget: .seconds(30), firstDelay: .milliseconds(20), delayMax: .milliseconds(200)),
                requestTimeout: .seconds(3)
            )
        )
        for sku in skus { _ = try await buyer.defineSKU(sku, SaleTerms(stock: 1_000_000, perUserLimit: 1_000_000)) }

        let log = ShardFailoverTests.Log()
        let stop = StopFlag()
        let buyers = ShardFailoverTests.buyers(3, skus: skus, through: buyer, requestPrefix: "h", log: log, stop: stop)
        try await Task.sleep(for: .seconds(2))
        let before = log.acknowledged.withLock { $0.count }
        // The host goes: the node and its primary at once, the primary's disk with them.
        let lostAt = ContinuousClock.now
        n1.node.signal(SIGKILL)
        n1.primary.kill()
        try n1.primary.wipe()
        try await ShardFailoverTests.waitUntilPromoted(n1.replica.url, seconds: 30)
        // A replacement server, empty and on its own: the adopter makes it the new replica.
        try n1.primary.restart(asReplicaOf: nil)
        #expect(await ShardFailoverTests.becomesReplica(n1.primary.url), "the adopter did not attach the replacement as a replica")
        let servedAgainAfter = try await log.servedAgain(after: lostAt, polls: 300)
        // The node comes back with the configuration it had: its configured primary is the replica now.
        try n1.node.start()
        try await TestCluster.waitUntilSettled(port: n1.node.httpPort, active: ["n1", "n2"])
        let direct = try FlashSaleClient(
            configuration: .init(nodeURLs: ["http://127.0.0.1:\(n1.node.httpPort)"], token: "test", routing: .anyNode, requestTimeout: .seconds(3))
        )
        let afterReturn = try await direct.reserve(sku: skus[0], user: "back", requestId: "back-1")
        try await Task.sleep(for: .seconds(1))
        stop.set()
        await buyers.value

        let acknowledged = log.acknowledged.withLock { $0 }
        let failures = log.failures.withLock { $0 }
        print("host lost: \(before) acknowledged before, \(acknowledged.count) in all; sold again after \(String(describing: servedAgainAfter)); \(failures.count) failed")
        #expect(before > 0)
        #expect(failures.isEmpty, "\(failures.count) failed, first \(failures.first ?? "")")
        let served = try #require(servedAgainAfter, "nothing was sold after the host was lost")
        // The adopter takes the shard once the lease has run out (seen at its next heartbeat, one a
        // second), then waits its own failover delay with no primary before it promotes.
        #expect(served <= Self.lease + .seconds(1) + Self.failoverAfter + .seconds(2), "the SKUs sold again \(served) after the host was lost")
        for (sku, id, _, _) in acknowledged + [(skus[0], afterReturn.value.id, lostAt, lostAt)] {
            let reservation = try await buyer.reservation(sku: sku, id: id)
            #expect(reservation.status == .reserved, "\(id)")
        }
        // The membership and the record have n1's shard at the promoted primary, and agree.
        let record = PostgresClient(url: postgres.url)
        let (member, registered) = try await record.withConnection { connection in
            (
                try connection.execute("SELECT redis_url, redis_replica_url FROM cluster_nodes WHERE id = 'n1'").first,
                try connection.execute("SELECT redis_url FROM shards WHERE node_id = 'n1'").first?.first ?? nil
            )
        }
        await record.stop()
        #expect(member == [n1.replica.url, n1.primary.url])
        #expect(registered == n1.replica.url)
        guard case .caughtUp(let differences) = try await RecordAudit.caughtUp(postgresURL: postgres.url, seconds: 20) else {
            Issue.record("the record did not catch up with the promoted shard")
            return
        }
        #expect(differences.isEmpty, "\(differences.prefix(3))")
    }
}
