public import FlashSaleCheck
public import FlashSaleClient
import FlashSaleCore
public import Foundation
public import Histogram
import Synchronization

/// Drives a sale through the public API of a running cluster and records every request, each try
/// of it and its answer: SKUs are defined, then `concurrency` buyers reserve (a random SKU, a
/// random user of `users`), and commit, release or abandon what they got; a request without an
/// answer, or answered 503, is retried with the same requestId, as a client should. Closed loop,
/// or paced to a target rate of reservations. Bounded in time.
public final class LoadGenerator: Sendable {
    public struct Settings: Sendable {
        public var urls: [URL]
        public var adminToken: String
        public var skuPrefix: String
        public var skuCount: Int
        public var stock: Int64
        public var perUserLimit: Int64
        public var reservationTtlSeconds: Int64
        /// Above 1: the odd-numbered SKUs are split over this many buckets (one run sells both kinds).
        public var buckets: Int64
        public var users: Int
        public var concurrency: Int
        public var duration: Duration
        /// Shares of reservations committed and released; the rest are abandoned (left to expire).
        public var commitShare: Double
        public var releaseShare: Double
        /// Attempts per request before its outcome is recorded as unknown.
        public var attempts: Int
        /// Reservations started per second over all buyers; nil runs a closed loop (each buyer
        /// starts its next request when the last one is answered).
        public var targetRatePerSecond: Double?
        /// When set, every third SKU (2, 5, 8...) sells only in this window after its definition,
        /// so one run meets sales not started, open and ended.
        public var saleWindow: SaleWindow?
        public var routing: FlashSaleClient.Routing
        /// Share of a buyer's turns that ask for a cart instead of one reservation.
        public var cartShare: Double
        /// SKUs in each cart; nil: 2 or 3 at random.
        public var cartSize: Int?

        public struct SaleWindow: Sendable {
            public var opensAfter: Duration
            public var openFor: Duration

            public init(opensAfter: Duration, openFor: Duration) {
                self.opensAfter = opensAfter
                self.openFor = openFor
            }
        }

        public init(
            urls: [URL],
            adminToken: String,
            skuPrefix: String = "load-",
            skuCount: Int = 20,
            stock: Int64 = 100,
            perUserLimit: Int64 = 2,
            reservationTtlSeconds: Int64 = 600,
            buckets: Int64 = 1,
            users: Int = 500,
            concurrency: Int = 16,
            duration: Duration = .seconds(30),
            commitShare: Double = 0.5,
            releaseShare: Double = 0.25,
            attempts: Int = 20,
            targetRatePerSecond: Double? = nil,
            saleWindow: SaleWindow? = nil,
            routing: FlashSaleClient.Routing = .owner,
            cartShare: Double = 0,
            cartSize: Int? = nil
        ) {
            self.urls = urls
            self.adminToken = adminToken
            self.skuPrefix = skuPrefix
            self.skuCount = skuCount
            self.stock = stock
            self.perUserLimit = perUserLimit
            self.reservationTtlSeconds = reservationTtlSeconds
            self.buckets = buckets
            self.users = users
            self.concurrency = concurrency
            self.duration = duration
            self.commitShare = commitShare
            self.releaseShare = releaseShare
            self.attempts = attempts
            self.targetRatePerSecond = targetRatePerSecond
            self.saleWindow = saleWindow
            self.routing = routing
            self.cartShare = cartShare
            self.cartSize = cartSize
        }

        public var skus: [String] { (0..<self.skuCount).map { "\(self.skuPrefix)\($0)" } }
    }

    /// Counts and latencies so far, for a live display.
    public struct Progress: Sendable {
        public var requests = 0
        /// Final answers by status ("201", "409 sold_out", "no answer", ...).
        public var outcomes: [String: Int] = [:]
        /// Milliseconds from first attempt to final answer.
        public var latency = Histogram<UInt64>(highestTrackableValue: 600_000)
    }

    public let settings: Settings
    private let client: FlashSaleClient
    private let state = Mutex<(progress: Progress, history: [HistoryEntry])>((Progress(), []))
    /// When the next paced reservation may start (only with a target rate).
    private let nextStart = Mutex<ContinuousClock.Instant>(.now)

    public init(settings: Settings) throws(FlashSaleClientError) {
        precondition(!settings.urls.isEmpty && settings.concurrency >= 1 && settings.skuCount >= 1 && settings.users >= 1)
        precondition(settings.targetRatePerSecond.map { $0 > 0 } ?? true)
        self.settings = settings
        self.client = try FlashSaleClient(
            configuration: .init(
                nodeURLs: settings.urls.map(\.absoluteString), token: settings.adminToken, routing: settings.routing,
                retry: RetryPolicy(attemptsMax: settings.attempts, timeBudget: .seconds(60), firstDelay: .milliseconds(100), delayMax: .seconds(1)),
                requestTimeout: .seconds(5), connectionsPerNode: max(64, settings.concurrency)
            )
        )
    }

    public var progress: Progress { self.state.withLock { $0.progress } }
    public var history: [HistoryEntry] { self.state.withLock { $0.history } }

    /// Defines the SKUs; throws when a definition is refused. The history's define entries carry
    /// the stock defined as their quantity.
    public func defineSKUs() async throws {
        let definedAt = Self.nowMilliseconds
        for (index, sku) in self.settings.skus.enumerated() {
            var terms = SaleTerms(
                stock: self.settings.stock, perUserLimit: self.settings.perUserLimit, reservationTtlSeconds: self.settings.reservationTtlSeconds,
                buckets: index % 2 == 1 ? self.settings.buckets : 1
            )
            if let saleWindow = self.settings.saleWindow, index % 3 == 2 {
                let opens = definedAt + saleWindow.opensAfter.wholeMilliseconds
                terms.startsAt = RFC3339.format(milliseconds: opens)
                terms.endsAt = RFC3339.format(milliseconds: opens + saleWindow.openFor.wholeMilliseconds)
            }
            let entry = HistoryEntry(operation: .define, startMilliseconds: 0, endMilliseconds: 0, sku: sku, quantity: self.settings.stock)
            let (answer, _) = await self.send(.defineSKU(sku, terms), entry: entry)
            guard answer.status == 200 || answer.status == 201 else {
                throw LoadError.defineRefused(sku: sku, answer: "\(answer.status.map(String.init) ?? "no answer") \(String(decoding: answer.body, as: UTF8.self))")
            }
        }
    }

    /// The stock still available over all the SKUs; nil when no node answered for some SKU.
    public func stockLeft() async -> Int64? {
        var left: Int64 = 0
        for sku in self.settings.skus {
            guard let view = try? await self.client.sku(sku) else { return nil }
            left += view.available
        }
        return left
    }

    /// Runs the buyers until the duration is over.
    public func run() async {
        let deadline = ContinuousClock.now + self.settings.duration
        await withTaskGroup(of: Void.self) { group in
            for buyer in 0..<self.settings.concurrency {
                group.addTask { await self.buyer(buyer, until: deadline) }
            }
        }
    }

    private func buyer(_ number: Int, until deadline: ContinuousClock.Instant) async {
        var request = 0
        while ContinuousClock.now < deadline, !Task.isCancelled {
            if let start = self.pacedStart() {
                guard start < deadline else { return }
                try? await Task.sleep(until: start)
            }
            request += 1
            if self.settings.skus.count >= 2, Double.random(in: 0..<1) < self.settings.cartShare {
                await self.cart(buyer: number, request: request)
                continue
            }
            let sku = self.settings.skus.randomElement()!
            let user = "user-\(Int.random(in: 0..<self.settings.users))"
            let requestId = "b\(number)-\(request)-\(UInt32.random(in: 0...UInt32.max))"
            let entry = HistoryEntry(operation: .reserve, startMilliseconds: 0, endMilliseconds: 0, sku: sku, user: user, quantity: 1, requestId: requestId)
            let (answer, recorded) = await self.send(.reserve(sku: sku, user: user, quantity: 1, requestId: requestId), entry: entry)
            guard answer.status == 201 || answer.status == 200, let id = recorded.reservationId, let commits = self.drawResolution() else {
                continue
            }
            let resolve = HistoryEntry(operation: commits ? .commit : .release, startMilliseconds: 0, endMilliseconds: 0, sku: sku, reservationId: id)
            await self.send(commits ? .commit(sku: sku, id: id) : .release(sku: sku, id: id), entry: resolve)
        }
    }

    /// A cart of distinct SKUs (`cartSize`, or 2 or 3), one unit each, then committed, released or abandoned as one. An
    /// acknowledged cart call also goes into the history as one entry per item (a reserve,
    /// commit or release of its reservation), so that the checker counts its items as it counts
    /// single reservations.
    private func cart(buyer number: Int, request: Int) async {
        let size = self.settings.cartSize ?? Int.random(in: 2...3)
        let skus = Array(self.settings.skus.shuffled().prefix(min(size, self.settings.skus.count)))
        let user = "user-\(Int.random(in: 0..<self.settings.users))"
        let requestId = "c\(number)-\(request)-\(UInt32.random(in: 0...UInt32.max))"
        let cartId = CartProgress.cartID(user: user, requestId: requestId)
        var entry = HistoryEntry(operation: .cart, startMilliseconds: 0, endMilliseconds: 0, sku: skus.joined(separator: "+"), user: user, requestId: requestId)
        entry.cartId = cartId
        entry.items = skus.map { .init(sku: $0, quantity: 1) }
        let (answer, recorded) = await self.send(.createCart(user: user, requestId: requestId, items: skus.map { ($0, 1) }), entry: entry)
        guard let status = answer.status, status == 201 || status == 200 else { return }
        let items = (answer.fields?["items"] as? [[String: Any]] ?? []).map { $0["id"] as? String }
        guard items.count == skus.count else { return }
        self.recordItems(of: recorded, operation: .reserve, status: status, ids: items)
        guard let commits = self.drawResolution() else { return }
        var resolve = HistoryEntry(operation: commits ? .commitCart : .releaseCart, startMilliseconds: 0, endMilliseconds: 0, sku: entry.sku, user: user)
        resolve.cartId = cartId
        resolve.items = zip(skus, items).map { .init(sku: $0, quantity: 1, reservationId: $1) }
        let (resolved, resolvedEntry) = await self.send(commits ? .commitCart(id: cartId) : .releaseCart(id: cartId), entry: resolve)
        guard resolved.status == 200 else { return }
        // Only the items the cart says it resolved so: one found expired was not released.
        let resolvedStatus = commits ? "committed" : "released"
        let statuses = (resolved.fields?["items"] as? [[String: Any]] ?? []).map { $0["status"] as? String }
        let resolvedIds = items.indices.map { index in index < statuses.count && statuses[index] == resolvedStatus ? items[index] : nil }
        self.recordItems(of: resolvedEntry, operation: commits ? .commit : .release, status: 200, ids: resolvedIds)
    }

    /// What a buyer does with what it got, by the settings' shares: true commits, false releases,
    /// nil abandons it (left to expire).
    private func drawResolution() -> Bool? {
        let roll = Double.random(in: 0..<1)
        if roll < self.settings.commitShare { return true }
        return roll < self.settings.commitShare + self.settings.releaseShare ? false : nil
    }

    /// One history entry per item of an acknowledged cart call, as if each item had been asked alone.
    private func recordItems(of cart: HistoryEntry, operation: HistoryEntry.Operation, status: Int, ids: [String?]) {
        guard let cartId = cart.cartId, let items = cart.items else { return }
        let entries = zip(items, ids).enumerated().compactMap { index, pair -> HistoryEntry? in
            guard let id = pair.1 else { return nil }
            var entry = HistoryEntry(
                operation: operation, startMilliseconds: cart.startMilliseconds, endMilliseconds: cart.endMilliseconds, sku: pair.0.sku,
                user: cart.user, quantity: pair.0.quantity, requestId: operation == .reserve ? CartProgress.requestId(ofItem: index, inCart: cartId) : nil, reservationId: id,
                status: status
            )
            entry.cartId = cartId
            return entry
        }
        self.state.withLock { $0.history += entries }
    }

    /// The instant the caller's next reservation may start at the target rate: slots one
    /// interval apart, never in the past, so a stall is not followed by a burst. Nil when unpaced.
    private func pacedStart() -> ContinuousClock.Instant? {
        guard let rate = self.settings.targetRatePerSecond else { return nil }
        let interval = Duration.seconds(1 / rate)
        return self.nextStart.withLock { next in
            let start = max(next, .now)
            next = start + interval
            return start
        }
    }

    /// One request through the client (which retries it while it gets no answer or 503); it goes
    /// into the history with its final answer and every try. Answers the answer and the entry
    /// recorded (a reservation's id read from the answer).
    @discardableResult
    private func send(_ request: ClientRequest, entry: HistoryEntry) async -> (answer: FlashSaleClient.Answer, recorded: HistoryEntry) {
        var entry = entry
        entry.startMilliseconds = Self.nowMilliseconds
        let started = ContinuousClock.now
        let answer = await self.client.send(request)
        entry.endMilliseconds = Self.nowMilliseconds
        entry.status = answer.status
        entry.attempts = answer.attempts.map { .init(node: $0.node, startMilliseconds: $0.startMilliseconds, endMilliseconds: $0.endMilliseconds, status: $0.status) }
        let object = answer.fields
        entry.error = object?["error"] as? String
        if entry.operation == .reserve, entry.reservationId == nil { entry.reservationId = object?["id"] as? String }
        let milliseconds = UInt64(max(0, (ContinuousClock.now - started).wholeMilliseconds))
        let outcome = answer.status.map { status in entry.error.map { "\(status) \($0)" } ?? String(status) } ?? "no answer"
        self.state.withLock { state in
            state.history.append(entry)
            state.progress.requests += 1
            state.progress.outcomes["\(entry.operation.rawValue) \(outcome)", default: 0] += 1
            _ = state.progress.latency.record(milliseconds)
        }
        return (answer, entry)
    }

    static var nowMilliseconds: Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}

public enum LoadError: Error, CustomStringConvertible {
    case defineRefused(sku: String, answer: String)
    case unreadable(String)

    public var description: String {
        switch self {
        case .defineRefused(let sku, let answer): "defining \(sku) was refused: \(answer)"
        case .unreadable(let what): what
        }
    }
}
