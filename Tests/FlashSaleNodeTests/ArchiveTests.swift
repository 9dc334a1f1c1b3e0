import FlashSaleCluster
import FlashSaleCore
import FlashSaleRedis
import FlashSaleTesting
import Foundation
import HTTPTypes
import Testing

/// Archiving on real nodes, shards and PostgreSQL: once a sale ends and its reservations are all
/// resolved and in the record, they leave Redis, and every read of them, every repeated requestId,
/// every commit and release answers exactly as before, through any node; a node killed while it
/// archives loses nothing.
@Suite(.serialized) struct ArchiveTests {
    /// One buyer's reservation and what it was made with.
    struct Made: Sendable {
        var sku: String
        var id: String
        var body: String
    }

    /// Six reservations of `sku` through the given ports in turn: two committed, two released,
    /// two left to expire (the SKU's TTL is a few seconds: long enough for a busy machine to
    /// commit and release in time).
    static func sell(_ sku: String, ports: [Int]) async throws -> [Made] {
        var made: [Made] = []
        for index in 0..<6 {
            let body = #"{"user":"\#(sku)-u\#(index)","quantity":1,"requestId":"\#(sku)-q\#(index)"}"#
            let (status, answer) = try await HTTP.call(ports[index % ports.count], .post, "/v1/skus/\(sku)/reservations", body: body)
            #expect(status == 201, "\(answer)")
            let id = try #require(ClusterForwardingTests.field(answer, "id"))
            made.append(Made(sku: sku, id: id, body: body))
            if index < 4 {
                let command = index < 2 ? "commit" : "release"
                #expect(try await HTTP.call(ports[(index + 1) % ports.count], .post, "/v1/skus/\(sku)/reservations/\(id)/\(command)").status == 200)
            }
        }
        return made
    }

    /// Waits (at most 30 s) until the reservations left to expire have expired.
    static func waitUntilExpired(_ made: [Made], port: Int) async throws {
        for reservation in made {
            for _ in 0..<300 {
                let (_, answer) = try await HTTP.call(port, .get, "/v1/skus/\(reservation.sku)/reservations/\(reservation.id)")
                if ClusterForwardingTests.field(answer, "status") != "reserved" { break }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// Every answer a buyer can get about what was made, through every port: the reservation, its
    /// requestId again, a commit and a release (all final by now, so none changes anything).
    static func answers(_ made: [Made], ports: [Int]) async throws -> [String] {
        var answers: [String] = []
        for reservation in made {
            for port in ports {
                let path = "/v1/skus/\(reservation.sku)/reservations"
                for (method, route, body) in [
                    (HTTPRequest.Method.get, "\(path)/\(reservation.id)", nil), (.post, path, reservation.body),
                    (.post, "\(path)/\(reservation.id)/commit", nil), (.post, "\(path)/\(reservation.id)/release", nil),
                ] as [(HTTPRequest.Method, String, String?)] {
                    let (status, answer) = try await HTTP.call(port, method, route, body: body)
                    answers.append("\(method.rawValue) \(route) \(body ?? ""): \(status) \(answer)")
                }
            }
        }
        return answers
    }

    /// How many SKUs (or buckets) the shards hold archived.
    static func archivedCount(_ cluster: TestCluster) async throws -> Int64 {
        var count: Int64 = 0
        for shard in cluster.shards { count += try await shard.client.send(["SCARD", "fs:archived"]).integer ?? 0 }
        return count
    }

    static func waitUntilArchived(_ cluster: TestCluster, count: Int64, seconds: Int = 60) async throws {
        for _ in 0..<(seconds * 10) {
            if try await Self.archivedCount(cluster) >= count { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("\(try await Self.archivedCount(cluster)) of \(count) archived after \(seconds) s")
    }

    @Test func anArchivedSaleAnswersEveryReadAsBeforeThroughEveryNode() async throws {
        try await TestCluster.with(nodes: 2, settings: #"{"archive": {"intervalMs": 100}}"#) { cluster in
            let ports = cluster.ports
            let membership = TestCluster.membership(active: ["n1", "n2"])
            let owned = ["n1", "n2"].map { owner in (0...).lazy.map { "arch-\($0)" }.first { membership.owner(of: $0)?.id == owner }! }
            let skus = owned + ["arch-split"]
            for sku in skus {
                let buckets = sku == "arch-split" ? 2 : 1
                let (status, answer) = try await HTTP.call(
                    ports[0], .put, "/v1/skus/\(sku)", body: #"{"stock": 10, "perUserLimit": 3, "reservationTtlSeconds": 4, "buckets": \#(buckets)}"#
                )
                #expect(status == 201, "\(answer)")
            }
            var made: [Made] = []
            for sku in skus { made += try await Self.sell(sku, ports: ports) }
            try await Self.waitUntilExpired(made, port: ports[0])
            let before = try await Self.answers(made, ports: ports)
            #expect(try await Self.archivedCount(cluster) == 0, "an open sale is never archived")

            for sku in skus {
                // The close answers the SKU's view, a split one's added up from its buckets' closes.
                let closed = try await HTTP.call(ports[1], .post, "/v1/skus/\(sku)/close")
                #expect(closed.status == 200 && ClusterForwardingTests.field(closed.body, "committed") == "2", "\(closed)")
                #expect(ClusterForwardingTests.field(closed.body, "endsAt") != nil, "\(closed)")
            }
            // Two whole SKUs and the split one's two buckets (its own entry holds no reservations).
            try await Self.waitUntilArchived(cluster, count: 4)
            for shard in cluster.shards {
                let left = try await shard.client.send(["KEYS", "fs:{arch-*}:res"]).array ?? []
                #expect(left.isEmpty, "reservations left in Redis: \(left)")
            }
            let after = try await Self.answers(made, ports: ports)
            #expect(after.count == before.count)
            for (old, new) in zip(before, after) { #expect(old == new) }

            for sku in skus {
                for port in ports {
                    let buyer = #"{"user":"late","quantity":1,"requestId":"late-\#(sku)"}"#
                    let (status, answer) = try await HTTP.call(port, .post, "/v1/skus/\(sku)/reservations", body: buyer)
                    #expect(status == 409 && ClusterForwardingTests.field(answer, "error") == "sale_ended", "\(answer)")
                    let view = try await HTTP.call(port, .get, "/v1/skus/\(sku)")
                    #expect(view.status == 200 && ClusterForwardingTests.field(view.body, "committed") == "2" && ClusterForwardingTests.field(view.body, "reserved") == "0", "\(view)")
                }
                // It can never sell again: its requestIds have left Redis. (A split SKU's settings,
                // its window included, are fixed once defined: that refusal comes first.)
                let redefine = try await HTTP.call(ports[0], .put, "/v1/skus/\(sku)", body: #"{"stock": 10}"#)
                let refusal = sku == "arch-split" ? (400, "invalid_request") : (409, "archived")
                #expect(redefine.status == refusal.0 && ClusterForwardingTests.field(redefine.body, "error") == refusal.1, "\(redefine)")
            }
        }
    }

    @Test func aNodeKilledWhileItArchivesLosesNothing() async throws {
        try await TestCluster.with(nodes: 1, settings: #"{"archive": {"intervalMs": 300, "skusPerPass": 1}}"#) { cluster in
            let port = cluster.ports[0]
            let skus = (0..<12).map { "crash-\($0)" }
            var made: [Made] = []
            for sku in skus {
                #expect(try await HTTP.call(port, .put, "/v1/skus/\(sku)", body: #"{"stock": 10, "perUserLimit": 3, "reservationTtlSeconds": 4}"#).status == 201)
                made += try await Self.sell(sku, ports: [port])
            }
            try await Self.waitUntilExpired(made, port: port)
            let before = try await Self.answers(made, ports: [port])
            for sku in skus { #expect(try await HTTP.call(port, .post, "/v1/skus/\(sku)/close").status == 200) }

            // One SKU a pass, a pass every 300 ms: kill the node once the first is archived.
            try await Self.waitUntilArchived(cluster, count: 1)
            cluster.node("n1").signal(SIGKILL)
            let archivedAtKill = try await Self.archivedCount(cluster)
            #expect(archivedAtKill < Int64(skus.count), "the node finished before it was killed")
            try cluster.node("n1").start()
            try await cluster.waitUntilSettled(active: ["n1"])
            try await Self.waitUntilArchived(cluster, count: Int64(skus.count))
            let after = try await Self.answers(made, ports: [port])
            for (old, new) in zip(before, after) { #expect(old == new) }
            #expect(after.count == before.count)
        }
    }
}
