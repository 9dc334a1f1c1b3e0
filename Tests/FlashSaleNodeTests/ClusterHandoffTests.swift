import FlashSaleCluster
import FlashSalePostgres
import FlashSaleRedis
import FlashSaleSync
import FlashSaleTesting
import HTTPTypes
import Foundation
import Logging
import Synchronization
import Testing

/// Issue 5's join and leave under load: buyers reserve, commit and release on 20 SKUs through
/// every node while n3 joins and then n2 leaves. No request may fail with anything but a
/// retryable 503; afterwards every SKU lives in exactly one shard, its owner's, every acknowledged
/// reservation answers as it was left, the counters add up, and PostgreSQL agrees.
@Suite(.serialized) struct ClusterHandoffTests {
    static let skus = (0..<20).map { "hot-\($0)" }
    static let stock = 60

    /// What buyers were told, per reservation id, and every answer that should not have come.
    final class Ledger: Sendable {
        struct State {
            var reservations: [String: (sku: String, status: String)] = [:]
            var unexpected: [String] = []
            var unresolved = 0
            var retries = 0
            var requests = 0
        }
        let state = Mutex(State())
        /// The HTTP ports buyers pick their entry node from.
        let entries: Mutex<[Int]>

        init(entries: [Int]) {
            self.entries = Mutex(entries)
        }

        var entry: Int { self.entries.withLock { $0.randomElement()! } }

        func record(_ id: String, sku: String, _ status: String) { self.state.withLock { $0.reservations[id] = (sku, status) } }
        func unexpected(_ what: String) { self.state.withLock { $0.unexpected.append(what) } }
    }

    @Test func aNodeJoinsAndAnotherLeavesUnderLoadAndNothingIsLost() async throws {
        let cluster = try await TestCluster(nodes: 2, spare: 1)
        do {
            try await Self.joinAndLeaveUnderLoad(cluster)
        } catch {
            await cluster.close()
            throw error
        }
        await cluster.close()
    }

    static func joinAndLeaveUnderLoad(_ cluster: TestCluster) async throws {
        let n1 = cluster.node("n1").httpPort
        for sku in Self.skus {
            let (status, body) = try await HTTP.call(n1, .put, "/v1/skus/\(sku)", body: #"{"stock": \#(Self.stock), "perUserLimit": 100}"#)
            #expect(status == 201, "\(body)")
        }
        let ledger = Ledger(entries: cluster.ports)
        let stop = StopFlag()
        let load = Task {
            await withTaskGroup(of: Void.self) { group in
                for worker in 0..<6 {
                    group.addTask { await Self.buyer(worker, ledger: ledger, stop: stop) }
                }
            }
        }
        try await Task.sleep(for: .seconds(1))

        let joinStarted = ContinuousClock.now
        try await cluster.start("n3")
        ledger.entries.withLock { $0 = cluster.ports }
        // SKUs defined while the join runs are created once, on their owner: never also on the previous owner.
        let newSKUs = (0..<10).map { "new-\($0)" }
        for sku in newSKUs {
            let answer = await Self.call(.put, "/v1/skus/\(sku)", #"{"stock": 5}"#, ledger)
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
        stop.set()
        await load.value

        let summary = ledger.state.withLock { $0 }
        print("handoff under load: join settled in \(joined), leave in \(left); \(summary.requests) requests, \(summary.retries) retried after 503, \(summary.reservations.count) reservations")
        #expect(summary.unexpected.isEmpty, "\(summary.unexpected.prefix(20))")
        #expect(summary.unresolved == 0)
        #expect(summary.reservations.count > 100, "the load made too few reservations to prove anything")

        // Every SKU in exactly one shard: its owner's under the final membership.
        let owners = TestCluster.membership(active: ["n1", "n3"])
        for sku in Self.skus + newSKUs {
            var holders: [String] = []
            for node in cluster.nodes where try await cluster.shard(of: node.id).client.send(["EXISTS", SKUKeys.meta(sku)]) == .integer(1) {
                holders.append(node.id)
            }
            #expect(holders == [owners.owner(of: sku)!.id], "\(sku) is held by \(holders)")
        }

        // The counters add up, and agree with what buyers were told, through any node.
        for sku in Self.skus {
            let (status, body) = try await HTTP.call(cluster.ports.randomElement()!, .get, "/v1/skus/\(sku)")
            #expect(status == 200)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
            let state = object.compactMapValues { $0 as? Int }
            let told = summary.reservations.values.filter { $0.sku == sku }
            #expect(state["available"]! + state["reserved"]! + state["committed"]! == Self.stock, "\(sku): \(state)")
            #expect(state["reserved"] == told.filter { $0.status == "reserved" }.count, "\(sku): \(state)")
            #expect(state["committed"] == told.filter { $0.status == "committed" }.count, "\(sku): \(state)")
        }
        for (id, told) in summary.reservations {
            let (status, body) = try await HTTP.call(cluster.ports.randomElement()!, .get, "/v1/skus/\(told.sku)/reservations/\(id)")
            #expect(status == 200 && body.contains(#""status":"\#(told.status)""#), "\(id): told \(told.status), now \(status) \(body)")
        }

        // PostgreSQL, once the syncer has caught up: the same counters, every commit once.
        var logger = Logger(label: "audit")
        logger.logLevel = .error
        let audit = RecordAudit(postgresURL: cluster.postgres.url, logger: logger)
        var verdict: RecordAudit.Outcome = .behind(shards: [])
        for _ in 0..<120 {
            verdict = try await audit.run()
            if case .caughtUp = verdict { break }
            try await Task.sleep(for: .milliseconds(250))
        }
        #expect(verdict == .caughtUp([]))
        let connection = try PostgresConnection(url: cluster.postgres.url)
        let committed = try connection.execute("SELECT id FROM reservations WHERE status = 'committed'").compactMap { $0[0] }
        #expect(committed.count == Set(committed).count)
        #expect(Set(committed) == Set(summary.reservations.filter { $0.value.status == "committed" }.keys))
    }

    /// One buyer: reserve, then commit half and release a quarter, through a random node each time;
    /// 503 is retried with the same request, as the API asks of clients. Bounded in count and time.
    static func buyer(_ worker: Int, ledger: Ledger, stop: StopFlag) async {
        let deadline = ContinuousClock.now + .seconds(120)
        for attempt in 0..<5_000 where !stop.isSet && ContinuousClock.now < deadline {
            let sku = Self.skus.randomElement()!
            let body = #"{"user": "u\#(Int.random(in: 0..<40))", "quantity": 1, "requestId": "w\#(worker)-\#(attempt)"}"#
            guard let (status, answer) = await Self.call(.post, "/v1/skus/\(sku)/reservations", body, ledger) else { continue }
            guard status == 201 || status == 200 else {
                if status != 409 || !(answer.contains("sold_out") || answer.contains("limit_exceeded")) {
                    ledger.unexpected("reserve \(sku): \(status) \(answer)")
                }
                continue
            }
            guard let object = try? JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any], let id = object["id"] as? String else {
                ledger.unexpected("reserve \(sku): no id in \(answer)")
                continue
            }
            ledger.record(id, sku: sku, "reserved")
            let roll = Int.random(in: 0..<4)
            guard roll < 3 else { continue }
            let (action, outcome) = roll < 2 ? ("commit", "committed") : ("release", "released")
            guard let (resolved, text) = await Self.call(.post, "/v1/skus/\(sku)/reservations/\(id)/\(action)", nil, ledger) else {
                continue
            }
            if resolved == 200 { ledger.record(id, sku: sku, outcome) } else { ledger.unexpected("\(action) \(id) of \(sku): \(resolved) \(text)") }
        }
    }

    /// A request through a random node, retried on 503 (and on a refused connection) until it gets
    /// another answer; nil, counted as unresolved, if it never does.
    static func call(
        _ method: HTTPRequest.Method,
        _ path: String,
        _ body: String?,
        _ ledger: Ledger
    ) async -> (Int, String)? {
        for _ in 0..<200 {
            ledger.state.withLock { $0.requests += 1 }
            if let (status, answer) = try? await HTTP.call(ledger.entry, method, path, body: body), status != 503 {
                return (status, answer)
            }
            ledger.state.withLock { $0.retries += 1 }
            try? await Task.sleep(for: .milliseconds(50))
        }
        ledger.state.withLock { $0.unresolved += 1 }
        return nil
    }
}
