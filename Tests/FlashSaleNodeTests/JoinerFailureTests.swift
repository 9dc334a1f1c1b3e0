import FlashSaleCluster
import FlashSaleRedis
import FlashSaleTesting
import Foundation
import HTTPTypes
import Testing

/// A node that stops answering while it joins (SIGSTOPped once it shows as `joining`, while SKUs
/// are still moving to it): a survivor adopts its shard, the SKUs still moving go there, and the
/// change settles without it; resumed, it takes its shard back. Every SKU answers throughout the
/// end states with the stock it was given.
@Suite(.serialized) struct JoinerFailureTests {
    static let skuCount = 2_000

    @Test func aJoinerThatStopsMidJoinIsAdoptedAndTheChangeSettles() async throws {
        // One SKU at a time per node, so that the join lasts long enough to be caught in the middle.
        try await TestCluster.with(nodes: 2, spare: 1, settings: #"{"membership": {"leaseMs": 2000}, "handoff": {"concurrency": 1}}"#) { cluster in
            try await Self.stopMidJoin(cluster)
        }
    }

    static func cluster(_ port: Int) async throws -> [String: Any] {
        let (_, body) = try await HTTP.call(port, .get, "/v1/cluster")
        return try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
    }

    static func node(_ id: String, in view: [String: Any]) -> [String: Any]? {
        (view["nodes"] as? [[String: Any]])?.first { $0["id"] as? String == id }
    }

    static func stopMidJoin(_ cluster: TestCluster) async throws {
        let entry = cluster.node("n1").httpPort
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    for index in stride(from: worker, to: Self.skuCount, by: 8) {
                        let (status, body) = try await HTTP.call(entry, .put, "/v1/skus/j\(index)", body: #"{"stock": \#(index % 7 + 1)}"#)
                        #expect(status == 201, "\(body)")
                    }
                }
            }
            try await group.waitForAll()
        }

        try await cluster.start("n3")
        var caught = false
        for _ in 0..<500 where !caught {
            let view = try await Self.cluster(entry)
            if Self.node("n3", in: view)?["state"] as? String == "joining" {
                cluster.node("n3").signal(SIGSTOP)
                caught = true
            } else {
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        try #require(caught, "n3 never showed as joining")
        let atPause = try await Self.cluster(entry)
        try #require(atPause["rebalancing"] as? Bool == true, "the join finished before n3 was stopped: nothing to show")

        // Past the lease: adopted by n1 (the lowest live id), and the change settles without n3.
        var settled: [String: Any]?
        var last: [String: Any] = [:]
        for _ in 0..<300 where settled == nil {
            last = try await Self.cluster(entry)
            // Settled: nothing moves, and n3 (a member now, shown `down` while past its lease) is served by n1.
            if last["rebalancing"] as? Bool == false, Self.node("n3", in: last)?["adoptedBy"] as? String == "n1" {
                settled = last
            } else {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        let view = try #require(settled, "the change did not settle while n3 was stopped: \(last)")
        #expect(Self.node("n3", in: view)?["state"] as? String == "down")
        try await Self.everySKUAnswers(through: [entry, cluster.node("n2").httpPort])

        // Resumed: n3 takes its shard back and serves its SKUs itself.
        cluster.node("n3").signal(SIGCONT)
        try await cluster.waitUntilSettled(active: ["n1", "n2", "n3"])
        try await Self.everySKUAnswers(through: cluster.ports)
        let owners = TestCluster.membership(active: ["n1", "n2", "n3"])
        let ownedByN3 = (0..<Self.skuCount).filter { owners.owner(of: "j\($0)")?.id == "n3" }.count
        #expect(ownedByN3 > Self.skuCount / 5, "placement should give n3 about a third")
        // Each SKU is in exactly one shard: its owner's.
        for (index, id) in ["n1", "n2", "n3"].enumerated() {
            let expected = (0..<Self.skuCount).filter { owners.owner(of: "j\($0)")?.id == id }.count
            let held = try await cluster.shards[index].store.skuCount()
            #expect(held == Int64(expected), "\(id) holds \(held) SKUs, owns \(expected)")
        }
    }

    /// Every SKU answers 200 with the stock it was defined with, through the given nodes in turn.
    static func everySKUAnswers(through ports: [Int]) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    for index in stride(from: worker, to: Self.skuCount, by: 8) {
                        let port = ports[index % ports.count]
                        let (status, body) = try await HTTP.call(port, .get, "/v1/skus/j\(index)")
                        #expect(status == 200 && body.contains(#""stock":\#(index % 7 + 1),"#), "j\(index) through \(port): \(status) \(body)")
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}
