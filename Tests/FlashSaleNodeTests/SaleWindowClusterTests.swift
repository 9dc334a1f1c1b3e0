import FlashSaleTesting
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

/// A scheduled sale over three real nodes whose clocks disagree by two hours: n2 runs an hour
/// ahead and n3 an hour behind (libfaketime; less behind on a host up for less than an hour). Each SKU opens and ends by its owner shard's clock
/// (Redis TIME) alone, so no node sells early or late, whichever node a buyer asks.
@Suite(.serialized) struct SaleWindowClusterTests {
    static let ttlSeconds: Int64 = 600

    @Test func skewedNodesNeitherOpenEarlyNorSellLate() async throws {
        let behindSeconds = SkewedClock.behindSeconds(3600)
        let ahead = try SkewedClock.environment(offsetSeconds: 3600)
        let behind = try SkewedClock.environment(offsetSeconds: -behindSeconds)
        try await TestCluster.with(nodes: 3, nodeEnvironment: { id in id == "n2" ? ahead : id == "n3" ? behind : [:] }) { cluster in
            // The skew is real: each node's Date header is its own wall clock (to within a minute:
            // the header is cached for a second, and a busy machine answers slowly).
            let skews = try await cluster.ports.asyncMap { try await Self.clockSkewSeconds(port: $0) }
            #expect(abs(skews[0]) < 60 && abs(skews[1] - 3600) < 60 && abs(skews[2] + Double(behindSeconds)) < 60, "skews \(skews)")

            let owners = ["n1", "n2", "n3"]
            let skus = owners.flatMap { owner in (0..<2).map { ClusterForwardingTests.sku(ownedBy: owner, "window-\(owner)-\($0)") } }
            // Time enough before the opening for every node to be asked about every SKU on a busy
            // machine (the full suite runs beside this test).
            let opening = Int64(Date().timeIntervalSince1970 * 1000) + 8_000
            let closing = opening + 3_000
            for sku in skus {
                let body = #"{"stock": 100000, "perUserLimit": 1, "reservationTtlSeconds": \#(Self.ttlSeconds), "startsAt": "\#(FoundationRFC3339.format(opening))", "endsAt": "\#(FoundationRFC3339.format(closing))"}"#
                let (status, answer) = try await HTTP.call(cluster.ports[0], .put, "/v1/skus/\(sku)", body: body)
                #expect(status == 201, "\(answer)")
            }
            // Buyers ask every node about every SKU, from before the opening until after the end.
            let answers = try await withThrowingTaskGroup(of: [Answer].self) { group in
                for (index, port) in cluster.ports.enumerated() {
                    group.addTask {
                        var answers: [Answer] = []
                        var attempt = 0
                        // Past the end until this buyer has seen every SKU's end (on a busy machine
                        // a round of calls may take longer than the 800 ms after it), at most 10 s.
                        var endSeen = Set<String>()
                        func goOn() -> Bool {
                            let now = Int64(Date().timeIntervalSince1970 * 1000)
                            return now < closing + 800 || (now < closing + 10_000 && endSeen.count < skus.count)
                        }
                        while goOn(), attempt < 5_000 {
                            let sku = skus[attempt % skus.count]
                            let buyer = "n\(index + 1)-\(attempt)"
                            let (status, body) = try await HTTP.call(
                                port, .post, "/v1/skus/\(sku)/reservations", body: #"{"user":"\#(buyer)","quantity":1,"requestId":"\#(buyer)"}"#
                            )
                            if status == 409, body.contains("sale_ended") { endSeen.insert(sku) }
                            answers.append(Answer(sku: sku, status: status, body: body))
                            attempt += 1
                            try await Task.sleep(for: .milliseconds(15))
                        }
                        return answers
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            var outcomes: [String: Int] = [:]
            for answer in answers {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])
                switch (answer.status, object["error"] as? String) {
                case (201, nil):
                    // Made on the owner shard's clock: expiresAt is that instant plus the TTL.
                    let expiresAt = try #require((object["expiresAt"] as? String).flatMap(FoundationRFC3339.milliseconds))
                    let madeAt = expiresAt - Self.ttlSeconds * 1000
                    #expect(madeAt >= opening && madeAt < closing, "\(answer.sku) reserved at \(madeAt), window \(opening)..<\(closing)")
                    outcomes["created \(answer.sku)", default: 0] += 1
                case (409, "not_started"):
                    outcomes["not_started \(answer.sku)", default: 0] += 1
                case (409, "sale_ended"):
                    outcomes["sale_ended \(answer.sku)", default: 0] += 1
                case (503, "unavailable"):
                    // A retryable answer (a shard adopted for a moment on a busy machine, say).
                    outcomes["unavailable", default: 0] += 1
                default:
                    Issue.record("unexpected answer \(answer.status) \(answer.body) for \(answer.sku)")
                }
            }
            // Every SKU, whichever node owns it, was refused before, sold during and refused after.
            for sku in skus {
                for outcome in ["not_started", "created", "sale_ended"] {
                    #expect(outcomes["\(outcome) \(sku)", default: 0] > 0, "no \(outcome) for \(sku): \(outcomes)")
                }
            }
        }
    }

    struct Answer: Sendable {
        var sku: String
        var status: Int
        var body: String
    }

    /// The node's wall clock minus this process's, from its Date header (whole seconds).
    static func clockSkewSeconds(port: Int) async throws -> Double {
        try await TestClient.withClient(host: "127.0.0.1", port: port) { client in
            let response = try await client.execute(.init("/healthz", method: .get))
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
            let header = try #require(response.headers[.date])
            let date = try #require(formatter.date(from: header), "Date: \(header)")
            return date.timeIntervalSinceNow
        }
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
