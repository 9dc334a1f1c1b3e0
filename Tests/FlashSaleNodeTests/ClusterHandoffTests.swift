import FlashSaleCluster
import FlashSaleCore
import FlashSaleRedis
import FlashSaleTesting
import Foundation
import HTTPTypes
import Synchronization
import Testing

/// Issue 5's join and leave under load: buyers reserve, commit and release on 20 SKUs through
/// every node while n3 joins and then n2 leaves. No request may fail with anything but a
/// retryable 503; afterwards every SKU lives in exactly one shard, its owner's, every acknowledged
/// reservation answers as it was left, the counters add up, and PostgreSQL agrees.
@Suite(.serialized) struct ClusterHandoffTests {
    @Test func aNodeJoinsAndAnotherLeavesUnderLoadAndNothingIsLost() async throws {
        try await TestCluster.with(nodes: 2, spare: 1) { cluster in
            try await Self.joinAndLeaveUnderLoad(cluster)
        }
    }

    static func joinAndLeaveUnderLoad(_ cluster: TestCluster) async throws {
        let n1 = cluster.node("n1").httpPort
        let load = SaleLoad(skus: (0..<20).map { "hot-\($0)" }, stock: 60, buckets: 3, entries: cluster.ports)
        try await load.start(definingThrough: n1)
        try await Task.sleep(for: .seconds(1))

        let joinStarted = ContinuousClock.now
        try await cluster.start("n3")
        load.entries.withLock { $0 = cluster.ports }
        // SKUs defined while the join runs are created once, on their owner: never also on the previous owner.
        let newSKUs = (0..<10).map { "new-\($0)" }
        for sku in newSKUs {
            let answer = await load.call(.put, "/v1/skus/\(sku)", #"{"stock": 5}"#)
            #expect(answer?.0 == 201, "\(sku): \(String(describing: answer))")
        }
        try await cluster.waitUntilSettled(active: ["n1", "n2", "n3"])
        let joined = ContinuousClock.now - joinStarted
        let (status, body) = try await HTTP.call(n1, .delete, "/v1/cluster/nodes/n2")
        #expect(status == 202, "\(body)")
        let leaveStarted = ContinuousClock.now
        try await cluster.waitUntilSettled(active: ["n1", "n3"])
        let left = ContinuousClock.now - leaveStarted
        try await Task.sleep(for: .seconds(1))
        await load.stop()
        print("handoff under load: join settled in \(joined), leave in \(left)")

        // Every SKU and every bucket of a split SKU in exactly one shard: its owner's under the final membership.
        let owners = TestCluster.membership(active: ["n1", "n3"])
        let buckets = load.skus.enumerated().filter { $0.offset % 2 == 1 }.flatMap { _, sku in
            (0..<load.buckets).map { SKUBuckets.name(of: sku, bucket: $0) }
        }
        for sku in load.skus + newSKUs + buckets {
            var holders: [String] = []
            for node in cluster.nodes where try await cluster.shard(of: node.id).client.send(["EXISTS", SKUKeys.meta(sku)]) == .integer(1) {
                holders.append(node.id)
            }
            #expect(holders == [owners.owner(of: sku)!.id], "\(sku) is held by \(holders)")
        }
        try await load.verify(cluster, through: cluster.ports)
    }
}
