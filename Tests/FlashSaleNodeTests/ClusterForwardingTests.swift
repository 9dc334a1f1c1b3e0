import FlashSaleCluster
import FlashSaleRedis
import FlashSaleTesting
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

/// Three real `flashsale node` processes with their own Redis shards, one PostgreSQL and the
/// launcher's certificates: every API call gives the same answer through each of the three nodes,
/// for SKUs owned by each of them (issue 4's "done when").
@Suite(.serialized) struct ClusterForwardingTests {
    static let membership = TestCluster.membership(active: ["n1", "n2", "n3"])

    /// A SKU name that placement gives to `owner`.
    static func sku(ownedBy owner: String, _ prefix: String) -> String {
        (0...).lazy.map { "\(prefix)-\($0)" }.first { Self.membership.owner(of: $0)?.id == owner }!
    }

    /// Asks every node the same request and checks they all answer the same status and body.
    @discardableResult
    static func sameEverywhere(
        _ cluster: TestCluster,
        _ method: HTTPRequest.Method,
        _ path: String,
        body: String? = nil,
        expect status: Int,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> String {
        var answers: [(Int, String)] = []
        for port in cluster.ports { answers.append(try await HTTP.call(port, method, path, body: body)) }
        #expect(answers.allSatisfy { $0.0 == status }, "\(method) \(path): \(answers)", sourceLocation: sourceLocation)
        #expect(Set(answers.map(\.1)).count == 1, "\(method) \(path) answered differently: \(answers)", sourceLocation: sourceLocation)
        return answers[0].1
    }

    static func field(_ body: String, _ name: String) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else { return nil }
        return object[name].map { "\($0)" }
    }

    @Test func everyCallAnswersTheSameFromEveryNodeAndNothingOversells() async throws {
        try await TestCluster.with(nodes: 3) { cluster in
            try await Self.checkEveryCall(cluster)
        }
    }

    static func checkEveryCall(_ cluster: TestCluster) async throws {

        for owner in ["n1", "n2", "n3"] {
            let sku = Self.sku(ownedBy: owner, "item")
            let settings = #"{"stock": 5, "perUserLimit": 1, "reservationTtlSeconds": 600}"#
            // Defined through a node that does not own it; then the same definition again from every node.
            let entry = cluster.nodes.first { $0.id != owner }!
            #expect(try await HTTP.call(entry.httpPort, .put, "/v1/skus/\(sku)", body: settings).status == 201)
            try await Self.sameEverywhere(cluster, .put, "/v1/skus/\(sku)", body: settings, expect: 200)
            try await Self.sameEverywhere(cluster, .get, "/v1/skus/\(sku)", expect: 200)
            // The SKU lives on its owner's shard only.
            for (index, shard) in cluster.shards.enumerated() {
                let defined = (try? await shard.store.skuState(sku)) != nil
                #expect(defined == (cluster.nodes[index].id == owner), "\(sku) on shard of n\(index + 1)")
            }

            // A reservation made through one node; its repeat through every node is the same one.
            let reserve = #"{"user": "alice", "quantity": 1, "requestId": "req-\#(owner)"}"#
            let first = try await HTTP.call(cluster.ports[0], .post, "/v1/skus/\(sku)/reservations", body: reserve)
            #expect(first.status == 201)
            let repeated = try await Self.sameEverywhere(cluster, .post, "/v1/skus/\(sku)/reservations", body: reserve, expect: 200)
            #expect(repeated == first.body)
            let id = try #require(Self.field(first.body, "id"))
            try await Self.sameEverywhere(cluster, .get, "/v1/skus/\(sku)/reservations/\(id)", expect: 200)
            // The per-user limit holds whichever node the second attempt goes through.
            let again = #"{"user": "alice", "quantity": 1, "requestId": "req2-\#(owner)"}"#
            let limited = try await Self.sameEverywhere(cluster, .post, "/v1/skus/\(sku)/reservations", body: again, expect: 409)
            #expect(Self.field(limited, "error") == "limit_exceeded")
            let committed = try await Self.sameEverywhere(cluster, .post, "/v1/skus/\(sku)/reservations/\(id)/commit", expect: 200)
            #expect(Self.field(committed, "status") == "committed")
            let refused = try await Self.sameEverywhere(cluster, .post, "/v1/skus/\(sku)/reservations/\(id)/release", expect: 409)
            #expect(Self.field(refused, "error") == "committed")
            try await Self.sameEverywhere(cluster, .get, "/v1/skus/\(sku)/reservations/nope", expect: 404)
            try await Self.sameEverywhere(cluster, .post, "/v1/skus/\(sku)/reservations/nope/commit", expect: 404)
            try await Self.sameEverywhere(cluster, .put, "/v1/skus/\(sku)", body: #"{"stock": 0}"#, expect: 409)
            try await Self.sameEverywhere(cluster, .post, "/v1/skus/\(sku)/reservations", body: #"{"user": 1}"#, expect: 400)
            let unknown = Self.sku(ownedBy: owner, "missing")
            try await Self.sameEverywhere(cluster, .get, "/v1/skus/\(unknown)", expect: 404)
            // Removing a node that is not a member: 404 through the real membership, changing nothing.
            try await Self.sameEverywhere(cluster, .delete, "/v1/cluster/nodes/n9", expect: 404)
            try await Self.sameEverywhere(cluster, .post, "/v1/skus/\(unknown)/reservations", body: reserve, expect: 404)

            // A reservation that expires: commit is refused with 410 through every node.
            let short = Self.sku(ownedBy: owner, "short")
            _ = try await HTTP.call(cluster.ports[1], .put, "/v1/skus/\(short)", body: #"{"stock": 1, "reservationTtlSeconds": 1}"#)
            let held = try await HTTP.call(cluster.ports[2], .post, "/v1/skus/\(short)/reservations", body: reserve)
            let heldID = try #require(Self.field(held.body, "id"))
            try await Task.sleep(for: .milliseconds(1300))
            let expired = try await Self.sameEverywhere(cluster, .post, "/v1/skus/\(short)/reservations/\(heldID)/commit", expect: 410)
            #expect(Self.field(expired, "error") == "expired")
            let released = try await Self.sameEverywhere(cluster, .get, "/v1/skus/\(short)", expect: 200)
            #expect(Self.field(released, "available") == "1")
        }

        // The oversell test, for a SKU owned by each node: 200 buyers for 50 units, entering through all three nodes.
        for owner in ["n1", "n2", "n3"] {
            let sku = Self.sku(ownedBy: owner, "sale")
            #expect(try await HTTP.call(cluster.ports[0], .put, "/v1/skus/\(sku)", body: #"{"stock": 50}"#).status == 201)
            let statuses = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                for buyer in 0..<200 {
                    group.addTask {
                        let body = #"{"user": "buyer-\#(buyer)", "quantity": 1, "requestId": "\#(sku)-\#(buyer)"}"#
                        let answer = try await HTTP.call(cluster.ports[buyer % 3], .post, "/v1/skus/\(sku)/reservations", body: body)
                        return (answer.status, Self.field(answer.body, "error") ?? "")
                    }
                }
                return try await group.reduce(into: [:]) { $0["\($1.0) \($1.1)", default: 0] += 1 }
            }
            #expect(statuses == ["201 ": 50, "409 sold_out": 150], "\(sku) owned by \(owner)")
            let state = try await Self.sameEverywhere(cluster, .get, "/v1/skus/\(sku)", expect: 200)
            #expect(Self.field(state, "available") == "0" && Self.field(state, "reserved") == "50")
        }

        // The ring, the same from every node.
        let ring = try await Self.sameEverywhereIgnoringCounts(cluster)
        // Epochs: n1 joins (1); n2 joins (2) and settles (3); n3 joins (4) and settles (5).
        #expect(ring.epoch == 5 && ring.slots.values.reduce(0, +) == Placement.slotCount)
        #expect(ring.slots.values.allSatisfy { $0 > 1000 }, "\(ring.slots)")
    }

    /// `GET /v1/cluster` agrees on the epoch, the nodes and their slots (SKU counts move with heartbeats).
    static func sameEverywhereIgnoringCounts(_ cluster: TestCluster) async throws -> (epoch: Int, slots: [String: Int]) {
        var views: [String] = []
        var last: (Int, [String: Int]) = (0, [:])
        for port in cluster.ports {
            let (status, body) = try await HTTP.call(port, .get, "/v1/cluster")
            #expect(status == 200)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
            let nodes = try #require(object["nodes"] as? [[String: Any]])
            var slots: [String: Int] = [:]
            for node in nodes { slots["\(node["id"]!)"] = node["slots"] as? Int }
            let states = nodes.map { "\($0["id"]!)=\($0["state"]!)@\($0["peerAddress"]!)" }
            views.append("\(object["epoch"]!) \(states) \(slots.sorted { $0.key < $1.key })")
            last = (object["epoch"] as? Int ?? 0, slots)
        }
        #expect(Set(views).count == 1, "\(views)")
        return last
    }
}

