import FlashSaleCluster
import FlashSaleTesting
import Foundation
import HTTPTypes
import Synchronization
import Testing

/// Issue 5's failover under load, with a 2 s membership lease: n1 (the first node, so the syncer's
/// leader) is killed, a survivor adopts its shard and serves its SKUs within the lease and 5 s,
/// and n1 takes its shard back when it starts again; then n3 is paused past its lease and
/// resumed. Nothing may fail but a retried 503, nothing may oversell, every acknowledged
/// reservation answers as it was left, and PostgreSQL agrees.
@Suite(.serialized) struct ClusterFailoverTests {
    static let lease = Duration.seconds(2)

    @Test func killedAndPausedNodesAreAdoptedAndNothingIsLost() async throws {
        let cluster = try await TestCluster(nodes: 3, settings: #"{"membership": {"leaseMs": 2000}}"#)
        do {
            try await Self.failOverUnderLoad(cluster)
        } catch {
            await cluster.close()
            throw error
        }
        await cluster.close()
    }

    static func failOverUnderLoad(_ cluster: TestCluster) async throws {
        let load = SaleLoad(skus: (0..<20).map { "hot-\($0)" }, stock: 60, entries: cluster.ports)
        try await load.start(definingThrough: cluster.node("n2").httpPort)
        try await Task.sleep(for: .seconds(1))
        let owners = TestCluster.membership(active: ["n1", "n2", "n3"])

        // Killed: a survivor adopts n1's shard; started again, n1 takes it back.
        let killed = try await Self.outage(of: "n1", in: cluster, load: load, owners: owners, signal: SIGKILL) {
            try cluster.node("n1").start()
        }
        print("n1 killed: its SKUs served again after \(killed)")
        // Paused past its lease: adopted meanwhile; when it wakes it learns the new epoch from its
        // own shard's fence before it answers, and takes its shard back.
        let paused = try await Self.outage(of: "n3", in: cluster, load: load, owners: owners, signal: SIGSTOP) {
            cluster.node("n3").signal(SIGCONT)
        }
        print("n3 paused: its SKUs served again after \(paused)")
        try await Task.sleep(for: .seconds(1))
        await load.stop()
        try await load.verify(cluster, through: cluster.ports)
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
