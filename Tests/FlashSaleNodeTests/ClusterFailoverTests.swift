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
        let everyone: Set<String> = ["n1", "n2", "n3"]
        let load = SaleLoad(skus: (0..<20).map { "hot-\($0)" }, stock: 60, entries: cluster.ports)
        try await load.start(definingThrough: cluster.node("n2").httpPort)
        try await Task.sleep(for: .seconds(1))
        let owners = TestCluster.membership(active: ["n1", "n2", "n3"])

        // Killed: clients go to the other nodes; n1's SKUs come back through a survivor.
        let n1SKU = try #require(load.skus.first { owners.owner(of: $0)?.id == "n1" })
        load.entries.withLock { $0 = [cluster.node("n2").httpPort, cluster.node("n3").httpPort] }
        cluster.node("n1").signal(SIGKILL)
        let killed = ContinuousClock.now
        let servedAgain = try await Self.waitUntilServed(n1SKU, through: cluster.node("n3").httpPort, since: killed)
        print("n1 killed: its SKUs served again after \(servedAgain)")
        #expect(servedAgain < Self.lease + .seconds(5))
        try await Task.sleep(for: .seconds(1))
        try cluster.node("n1").start()
        try await cluster.waitUntilSettled(active: everyone)
        load.entries.withLock { $0 = cluster.ports }

        // Paused past its lease: adopted meanwhile; when it wakes it learns the new epoch from
        // its own shard's fence before it answers, and takes its shard back.
        let n3SKU = try #require(load.skus.first { owners.owner(of: $0)?.id == "n3" })
        load.entries.withLock { $0 = [cluster.node("n1").httpPort, cluster.node("n2").httpPort] }
        cluster.node("n3").signal(SIGSTOP)
        let paused = ContinuousClock.now
        let adopted = try await Self.waitUntilServed(n3SKU, through: cluster.node("n1").httpPort, since: paused)
        print("n3 paused: its SKUs served again after \(adopted)")
        #expect(adopted < Self.lease + .seconds(5))
        try await Task.sleep(for: .seconds(1))
        cluster.node("n3").signal(SIGCONT)
        try await cluster.waitUntilSettled(active: everyone)
        load.entries.withLock { $0 = cluster.ports }
        try await Task.sleep(for: .seconds(1))
        await load.stop()
        try await load.verify(cluster, through: cluster.ports)
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
