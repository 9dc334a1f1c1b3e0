import FlashSaleCheck
import FlashSaleCluster
import FlashSaleLoad
import FlashSalePostgres
import FlashSaleRedis
import FlashSaleSync
import FlashSaleTesting
import Foundation
import HTTPTypes
import Synchronization
import Testing

/// Buyers that reserve, commit and release on a set of SKUs through random nodes while a test
/// changes the cluster, what each of them was told, and the checks that what they were told
/// still holds afterwards.
final class SaleLoad: Sendable {
    struct State {
        var reservations: [String: (sku: String, status: String)] = [:]
        var unexpected: [String] = []
        var unresolved = 0
        var retries = 0
        var requests = 0
        /// Every request's final answer, for the invariant checker.
        var history: [HistoryEntry] = []
    }

    let skus: [String]
    let stock: Int
    /// Above 1: the odd-numbered SKUs are split over this many buckets.
    let buckets: Int
    let state = Mutex(State())
    /// The HTTP ports buyers pick their entry node from.
    let entries: Mutex<[Int]>
    private let stopFlag = StopFlag()
    private let buyers = Mutex<Task<Void, Never>?>(nil)

    init(skus: [String], stock: Int, buckets: Int = 1, entries: [Int]) {
        self.skus = skus
        self.stock = stock
        self.buckets = buckets
        self.entries = Mutex(entries)
    }

    var entry: Int { self.entries.withLock { $0.randomElement()! } }

    func record(_ id: String, sku: String, _ status: String) { self.state.withLock { $0.reservations[id] = (sku, status) } }
    func unexpected(_ what: String) { self.state.withLock { $0.unexpected.append(what) } }

    static var nowMilliseconds: Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// Records a request's final answer (`answer` nil: none came) in the history.
    func remember(_ entry: HistoryEntry, _ answer: (Int, String)?) {
        var entry = entry
        entry.endMilliseconds = Self.nowMilliseconds
        entry.status = answer?.0
        if let body = answer?.1, let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] {
            entry.error = object["error"] as? String
            if entry.operation == .reserve { entry.reservationId = object["id"] as? String }
        }
        self.state.withLock { $0.history.append(entry) }
    }

    /// Defines the SKUs through `port`, then starts `workers` buyers.
    func start(definingThrough port: Int, workers: Int = 6) async throws {
        for (index, sku) in self.skus.enumerated() {
            let buckets = index % 2 == 1 ? self.buckets : 1
            let started = Self.nowMilliseconds
            let answer = try await HTTP.call(port, .put, "/v1/skus/\(sku)", body: #"{"stock": \#(self.stock), "perUserLimit": 100, "buckets": \#(buckets)}"#)
            #expect(answer.status == 201, "\(answer.body)")
            self.remember(.init(operation: .define, startMilliseconds: started, endMilliseconds: 0, sku: sku, quantity: Int64(self.stock)), answer)
        }
        let task = Task {
            await withTaskGroup(of: Void.self) { group in
                for worker in 0..<workers {
                    group.addTask { await self.buyer(worker) }
                }
            }
        }
        self.buyers.withLock { $0 = task }
    }

    func stop() async {
        self.stopFlag.set()
        await self.buyers.withLock { $0 }?.value
    }

    /// After `stop`: nothing but retried 503s, every acknowledged reservation as it was left, the
    /// counters adding up through any node, and PostgreSQL agreeing once the syncer caught up.
    func verify(_ cluster: TestCluster, through ports: [Int]) async throws {
        let summary = self.state.withLock { $0 }
        print("\(summary.requests) requests, \(summary.retries) retried after 503, \(summary.reservations.count) reservations")
        #expect(summary.unexpected.isEmpty, "\(summary.unexpected.prefix(20))")
        #expect(summary.unresolved == 0)
        #expect(summary.reservations.count > 100, "the load made too few reservations to prove anything")

        for sku in self.skus {
            let (status, body) = try await HTTP.call(ports.randomElement()!, .get, "/v1/skus/\(sku)")
            #expect(status == 200)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
            let state = object.compactMapValues { $0 as? Int }
            let told = summary.reservations.values.filter { $0.sku == sku }
            #expect(state["available"]! + state["reserved"]! + state["committed"]! == self.stock, "\(sku): \(state)")
            #expect(state["reserved"] == told.filter { $0.status == "reserved" }.count, "\(sku): \(state)")
            #expect(state["committed"] == told.filter { $0.status == "committed" }.count, "\(sku): \(state)")
        }
        for (id, told) in summary.reservations {
            let (status, body) = try await HTTP.call(ports.randomElement()!, .get, "/v1/skus/\(told.sku)/reservations/\(id)")
            #expect(status == 200 && body.contains(#""status":"\#(told.status)""#), "\(id): told \(told.status), now \(status) \(body)")
        }

        #expect(try await RecordAudit.caughtUp(postgresURL: cluster.postgres.url) == .caughtUp([]))
        let connection = try PostgresConnection(url: cluster.postgres.url)
        let committed = try connection.execute("SELECT id FROM reservations WHERE status = 'committed'").compactMap { $0[0] }
        #expect(committed.count == Set(committed).count)
        #expect(Set(committed) == Set(summary.reservations.filter { $0.value.status == "committed" }.keys))

        // The same run through the invariant checker (flashsale check's core), which must agree.
        let reader = try StateReader(url: URL(string: "http://127.0.0.1:\(ports[0])")!, adminToken: "test", postgresURL: cluster.postgres.url)
        let final = try await reader.read(summary.history)
        #expect(final.reservations.count >= summary.reservations.count, "the checker must see every acknowledged reservation")
        let violations = InvariantChecker.check(summary.history, final: final)
        #expect(violations.isEmpty, "\(violations.prefix(10))")
    }

    /// One buyer: reserve, then commit half and release a quarter, through a random node each time;
    /// 503 is retried with the same request, as the API asks of clients. Bounded in count and time.
    func buyer(_ worker: Int) async {
        let deadline = ContinuousClock.now + .seconds(120)
        for attempt in 0..<5_000 where !self.stopFlag.isSet && ContinuousClock.now < deadline {
            let sku = self.skus.randomElement()!
            let user = "u\(Int.random(in: 0..<40))", requestId = "w\(worker)-\(attempt)"
            let body = #"{"user": "\#(user)", "quantity": 1, "requestId": "\#(requestId)"}"#
            let started = Self.nowMilliseconds
            let reply = await self.call(.post, "/v1/skus/\(sku)/reservations", body)
            self.remember(
                .init(operation: .reserve, startMilliseconds: started, endMilliseconds: 0, sku: sku, user: user, quantity: 1, requestId: requestId),
                reply
            )
            guard let (status, answer) = reply else { continue }
            guard status == 201 || status == 200 else {
                if status != 409 || !(answer.contains("sold_out") || answer.contains("limit_exceeded")) {
                    self.unexpected("reserve \(sku): \(status) \(answer)")
                }
                continue
            }
            guard let object = try? JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any], let id = object["id"] as? String else {
                self.unexpected("reserve \(sku): no id in \(answer)")
                continue
            }
            self.record(id, sku: sku, "reserved")
            let roll = Int.random(in: 0..<4)
            guard roll < 3 else { continue }
            let (action, outcome) = roll < 2 ? ("commit", "committed") : ("release", "released")
            let resolving = Self.nowMilliseconds
            let resolution = await self.call(.post, "/v1/skus/\(sku)/reservations/\(id)/\(action)", nil)
            self.remember(
                .init(operation: action == "commit" ? .commit : .release, startMilliseconds: resolving, endMilliseconds: 0, sku: sku, reservationId: id),
                resolution
            )
            guard let (resolved, text) = resolution else { continue }
            if resolved == 200 { self.record(id, sku: sku, outcome) } else { self.unexpected("\(action) \(id) of \(sku): \(resolved) \(text)") }
        }
    }

    /// A request through a random node, retried on 503 (and on a refused connection) until it gets
    /// another answer; nil, counted as unresolved, if it never does.
    func call(
        _ method: HTTPRequest.Method,
        _ path: String,
        _ body: String?
    ) async -> (Int, String)? {
        for _ in 0..<200 {
            self.state.withLock { $0.requests += 1 }
            if let (status, answer) = try? await HTTP.call(self.entry, method, path, body: body), status != 503 {
                return (status, answer)
            }
            self.state.withLock { $0.retries += 1 }
            try? await Task.sleep(for: .milliseconds(50))
        }
        self.state.withLock { $0.unresolved += 1 }
        return nil
    }
}
