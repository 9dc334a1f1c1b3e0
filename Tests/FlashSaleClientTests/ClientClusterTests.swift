import FlashSaleClient
import FlashSaleCore
import FlashSaleTesting
import Foundation
import HTTPTypes
import Synchronization
import Testing

/// The client against real nodes: owner routing sends every call straight to its owner, and
/// buyers using it through a join, a leave and a node kill get every call answered (or a clear
/// error), and nothing reserved twice.
@Suite(.serialized) struct ClientClusterTests {
    static func urls(_ cluster: TestCluster) -> [String] { cluster.ports.map { "http://127.0.0.1:\($0)" } }

    @Test func ownerRoutingSendsEveryReservationToItsOwnerAndRandomRoutingDoesNot() async throws {
        try await TestCluster.with(nodes: 3) { cluster in
            let owner = try FlashSaleClient(configuration: .init(nodeURLs: [Self.urls(cluster)[0]], token: "test", routing: .owner))
            let random = try FlashSaleClient(configuration: .init(nodeURLs: Self.urls(cluster), token: "test", routing: .anyNode))
            let skus = (0..<30).map { "routed-\($0)" }
            for (index, sku) in skus.enumerated() {
                _ = try await owner.defineSKU(sku, SaleTerms(stock: 1_000, perUserLimit: 1_000, buckets: index % 3 == 0 ? 3 : 1))
            }
            #expect(owner.ownerDirectory?.liveNodeURLs.count == 3, "the client learned every node from the one it was given")

            let before = try await Self.counts(cluster)
            for number in 0..<300 {
                _ = try await owner.reserve(sku: skus[number % skus.count], user: "u\(number)", requestId: "owner-\(number)")
            }
            let afterOwner = try await Self.counts(cluster)
            for number in 0..<300 {
                _ = try await random.reserve(sku: skus[number % skus.count], user: "v\(number)", requestId: "random-\(number)")
            }
            let afterRandom = try await Self.counts(cluster)

            // Per node: reservations asked of it over HTTP, and reservations its shard made.
            var forwardedByRandom = 0
            for index in 0..<3 {
                let asked = afterOwner[index].asked - before[index].asked
                let made = afterOwner[index].made - before[index].made
                #expect(asked == made, "node \(index + 1) was asked \(asked) reservations and made \(made): owner routing forwards none")
                forwardedByRandom += abs((afterRandom[index].asked - afterOwner[index].asked) - (afterRandom[index].made - afterOwner[index].made))
            }
            let askedOfOwners = afterOwner.map(\.asked).reduce(0, +) - before.map(\.asked).reduce(0, +)
            #expect(askedOfOwners == 300)
            #expect(forwardedByRandom > 0, "random routing lands some reservations on nodes that do not own them")
        }
    }

    /// Each node's count of 201 answers to `POST /v1/skus/{sku}/reservations`, and of reservations
    /// its shard made, from its metrics.
    static func counts(_ cluster: TestCluster) async throws -> [(asked: Int, made: Int)] {
        var counts: [(Int, Int)] = []
        for port in cluster.ports {
            let (status, text) = try await HTTP.call(port, .get, "/metrics")
            #expect(status == 200)
            let lines = text.split(separator: "\n")
            let value = { (parts: [String]) -> Int in
                lines.filter { line in line.hasPrefix(parts[0] + "{") && parts.dropFirst().allSatisfy { line.contains($0) } }
                    .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.map { Int($0) }.reduce(0, +)
            }
            counts.append((
                value(["flashsale_http_requests_total", #"route="/v1/skus/{sku}/reservations""#, #"method="POST""#, #"status="201""#]),
                value(["flashsale_reservations_total", #"outcome="created""#])
            ))
        }
        return counts
    }

    /// What one buyer's call came to.
    enum Outcome: Sendable, Hashable {
        case reserved(id: String)
        case refused(code: String)
        case failed(String)
    }

    struct Call: Sendable {
        var sku: String
        var user: String
        var requestId: String
        var outcome: Outcome
    }

    final class CallLog: Sendable {
        let calls = Mutex<[Call]>([])
    }

    @Test func buyersThroughAJoinALeaveAndAKillGetEveryCallAnsweredAndNothingReservedTwice() async throws {
        try await TestCluster.with(nodes: 3, spare: 1, settings: #"{"membership": {"leaseMs": 2000}}"#) { cluster in
            let retry = RetryPolicy(attemptsMax: 60, timeBudget: .seconds(30), firstDelay: .milliseconds(50), delayMax: .seconds(1))
            let client = try FlashSaleClient(configuration: .init(nodeURLs: Self.urls(cluster), token: "test", routing: .owner, retry: retry))
            let skus = (0..<12).map { "cart-\($0)" }
            for (index, sku) in skus.enumerated() {
                _ = try await client.defineSKU(sku, SaleTerms(stock: 40, perUserLimit: 2, buckets: index % 2 == 1 ? 3 : 1))
            }
            let calls = CallLog()
            let stop = StopFlag()
            let buyers = Task {
                await withTaskGroup(of: Void.self) { group in
                    for buyer in 0..<8 {
                        group.addTask {
                            var number = 0
                            while !stop.isSet, number < 2_000 {
                                number += 1
                                let sku = skus.randomElement()!
                                let user = "u\(Int.random(in: 0..<150))"
                                let requestId = "b\(buyer)-\(number)"
                                let outcome: Outcome
                                do throws(FlashSaleClientError) {
                                    outcome = .reserved(id: try await client.reserve(sku: sku, user: user, requestId: requestId).value.id)
                                } catch .refused(let refusal) where refusal.status == 409 {
                                    outcome = .refused(code: refusal.code)
                                } catch {
                                    outcome = .failed("\(error)")
                                }
                                calls.calls.withLock { $0.append(Call(sku: sku, user: user, requestId: requestId, outcome: outcome)) }
                            }
                        }
                    }
                }
            }
            try await Task.sleep(for: .seconds(1))
            try await cluster.start("n4")
            try await cluster.waitUntilSettled(active: ["n1", "n2", "n3", "n4"])
            try await client.removeNode("n2")
            try await cluster.waitUntilSettled(active: ["n1", "n3", "n4"])
            cluster.node("n3").signal(SIGKILL)
            // Past the lease and the adoption, then a little more selling through the adopter.
            try await Task.sleep(for: .seconds(6))
            stop.set()
            await buyers.value

            let made = calls.calls.withLock { $0 }
            let failures = made.compactMap { call -> String? in if case .failed(let why) = call.outcome { return why } else { return nil } }
            let refusals = Set(made.compactMap { call -> String? in if case .refused(let code) = call.outcome { return code } else { return nil } })
            print("client through join, leave and kill: \(made.count) calls, \(failures.count) failed, refusals \(refusals.sorted())")
            #expect(made.count > 100)
            #expect(failures.isEmpty, "every call answered within the retry budget: \(failures.prefix(3))")
            #expect(refusals.isSubset(of: ["sold_out", "limit_exceeded"]))

            // Every call asked again with its requestId: an answered one gets the same reservation;
            // each reservation answers exactly one requestId; the SKUs hold exactly those.
            var holders: [String: String] = [:]
            for call in made {
                let again = try? await client.reserve(sku: call.sku, user: call.user, requestId: call.requestId)
                if case .reserved(let id) = call.outcome {
                    #expect(again?.value.id == id && again?.isNew == false, "\(call.requestId) answered \(id) first, then \(String(describing: again))")
                }
                if let id = again?.value.id {
                    #expect(holders[id] == nil || holders[id] == call.requestId, "\(id) answers two requestIds")
                    holders[id] = call.requestId
                }
            }
            var reserved: Int64 = 0
            for sku in skus {
                let view = try await client.sku(sku)
                #expect(view.available >= 0 && view.reserved + view.committed <= view.stock, "\(sku) oversold: \(view)")
                reserved += view.reserved
            }
            #expect(reserved == Int64(holders.count), "the SKUs hold \(reserved) units; the requests answer \(holders.count) reservations")
        }
    }
}
