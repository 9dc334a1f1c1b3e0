import FlashSaleCluster
import FlashSaleRedis
import FlashSaleTesting
import Foundation
import HTTPTypes
import Synchronization
import Testing

/// Issue 5's failover under load, with a 2 s membership lease: the syncer's leader is killed, a
/// survivor adopts its shard and serves its SKUs within the lease and 5 s, and the node takes its
/// shard back when it starts again; then another node is paused past its lease and resumed; then
/// the third is killed for good while the second leaves (SKUs move into the gone node's adopted
/// shard), and is removed too (its SKUs move out of it). Nothing may fail but a retried 503, nothing may oversell, every acknowledged
/// reservation answers as it was left, and PostgreSQL agrees.
@Suite(.serialized) struct ClusterFailoverTests {
    static let lease = Duration.seconds(2)

    @Test func killedAndPausedNodesAreAdoptedAndNothingIsLost() async throws {
        try await TestCluster.with(nodes: 3, settings: #"{"membership": {"leaseMs": 2000}}"#) { cluster in
            try await Self.failOverUnderLoad(cluster)
        }
    }

    static func failOverUnderLoad(_ cluster: TestCluster) async throws {
        let load = SaleLoad(skus: (0..<20).map { "hot-\($0)" }, stock: 60, buckets: 3, entries: cluster.ports)
        try await load.start(definingThrough: cluster.node("n2").httpPort)
        try await Task.sleep(for: .seconds(1))
        let owners = TestCluster.membership(active: ["n1", "n2", "n3"])

        // The syncer's leader killed: a survivor adopts its shard; started again, it takes it back.
        let (_, body) = try await HTTP.call(cluster.node("n2").httpPort, .get, "/v1/cluster")
        let syncer = try #require((try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["syncer"] as? [String: Any])
        let leader = try #require(syncer["leader"] as? String)
        let killed = try await Self.outage(of: leader, in: cluster, load: load, owners: owners, signal: SIGKILL) {
            try cluster.node(leader).start()
        }
        print("\(leader), the syncer's leader, killed: its SKUs served again after \(killed)")
        // Paused past its lease: adopted meanwhile; when it wakes it learns the new epoch from its
        // own shard's fence before it answers, and takes its shard back.
        let other = leader == "n3" ? "n2" : "n3"
        let paused = try await Self.outage(of: other, in: cluster, load: load, owners: owners, signal: SIGSTOP) {
            cluster.node(other).signal(SIGCONT)
        }
        print("\(other) paused: its SKUs served again after \(paused)")
        // Killed and never back, while another node leaves: the leaver hands SKUs to the gone
        // node's shard (through the survivor serving it); then the operator removes the gone node
        // too, and its SKUs move from its shard to the last node.
        let gone = Set(["n1", "n2", "n3"]).subtracting([leader, other]).first!
        load.entries.withLock { $0 = [cluster.node(leader).httpPort, cluster.node(other).httpPort] }
        cluster.node(gone).signal(SIGKILL)
        let goneSKU = try #require(load.skus.first { owners.owner(of: $0)?.id == gone })
        _ = try await Self.waitUntilServed(goneSKU, through: cluster.node(leader).httpPort, since: .now)
        for leaving in [other, gone] {
            let (status, answer) = try await HTTP.call(cluster.node(leader).httpPort, .delete, "/v1/cluster/nodes/\(leaving)")
            #expect(status == 202, "\(answer)")
            try await Self.waitUntilDown(leaving, through: cluster.node(leader).httpPort)
        }
        try await cluster.waitUntilSettled(active: [leader])
        for sku in load.skus {
            var holders: [String] = []
            for node in cluster.nodes where try await cluster.shard(of: node.id).client.send(["EXISTS", SKUKeys.meta(sku)]) == .integer(1) {
                holders.append(node.id)
            }
            #expect(holders == [leader], "\(sku) is held by \(holders)")
        }
        try await Task.sleep(for: .seconds(1))
        await load.stop()
        // The node that left still runs (down, it forwards); the gone one does not.
        try await load.verify(cluster, through: [cluster.node(leader).httpPort, cluster.node(other).httpPort])
    }

    /// Takes node `id` away with `signal` while clients go to the other nodes, waits until one of
    /// its SKUs is served through a survivor that adopted its shard (within the lease and 5 s),
    /// then `restore`s it and waits until every node serves its own shard again. Answers how long
    /// the SKU was not served.
    static func outage(
        of id: String,
        in cluster: TestCluster,
        load: SaleLoad,
        owners: Membership,
        signal: Int32,
        restore: () throws -> Void
    ) async throws -> Duration {
        let sku = try #require(load.skus.first { owners.owner(of: $0)?.id == id })
        let survivors = cluster.nodes.filter { $0.id != id }.map(\.httpPort)
        load.entries.withLock { $0 = survivors }
        cluster.node(id).signal(signal)
        let unavailable = try await Self.waitUntilServed(sku, through: survivors.last!, since: .now)
        #expect(unavailable < Self.lease + .seconds(5))
        try await Task.sleep(for: .seconds(1))
        try restore()
        try await cluster.waitUntilSettled(active: Set(cluster.nodes.map(\.id)))
        load.entries.withLock { $0 = cluster.ports }
        return unavailable
    }

    /// Waits until the cluster, seen through `port`, has settled with node `id` down.
    static func waitUntilDown(_ id: String, through port: Int) async throws {
        for _ in 0..<600 {
            if let (status, body) = try? await HTTP.call(port, .get, "/v1/cluster"), status == 200,
                let cluster = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
                cluster["rebalancing"] as? Bool == false,
                (cluster["nodes"] as? [[String: Any]])?.contains(where: { $0["id"] as? String == id && $0["state"] as? String == "down" }) == true
            {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestServerError.didNotStart("\(id) down")
    }

    /// Polls the SKU through `port` until it answers 200; how long after `since` that was.
    static func waitUntilServed(_ sku: String, through port: Int, since: ContinuousClock.Instant) async throws -> Duration {
        // Past the lease, certainly not served by the gone node any more.
        for _ in 0..<300 {
            if let (status, _) = try? await HTTP.call(port, .get, "/v1/skus/\(sku)"), status == 200,
                ContinuousClock.now - since > .milliseconds(100)
            {
                let (_, body) = try await HTTP.call(port, .get, "/v1/cluster")
                if body.contains("adoptedBy") { return ContinuousClock.now - since }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestServerError.didNotStart("\(sku) served again")
    }
}
