import FlashSaleCore
import FlashSalePostgres
import FlashSaleRecord
import Foundation
import Logging
import ServiceLifecycle

/// Carts (issue 17) on this node: any node coordinates the carts it is asked for, and finishes or
/// undoes the carts whose coordinator went quiet. The cart's record is a PostgreSQL row
/// (`CartRecord`), written before any item is reserved; `CartProgress` decides the calls, which go
/// through the node's routed operations, so items on other nodes, split SKUs, handoffs and
/// adopted shards work as for single reservations. Every item call is repeatable (a reserve under
/// the item's own requestId answers the reservation a first ask made), so a cart taken over by
/// another node is carried on, never done twice; the row's version fences the node it was taken from.
final class CartCoordinator: CartService, Service, Sendable {
    struct Settings: Sendable {
        /// How long a coordinator has to finish a call on a cart before another node may take it over.
        var recoveryDelay: Duration = .seconds(10)
        /// A commit is refused this close to the cart's expiry: an item would likely expire before every item is prepared.
        var commitMargin: Duration = .seconds(2)
        /// A held cart is released as one this long after its expiry.
        var expiryGrace: Duration = .seconds(1)
        var claimInterval: Duration = .seconds(1)
        var claimLimit = 16
        /// Asks of one item call that get no usable answer before the cart is undone.
        var attemptsMax = 5
    }

    private let nodeID: String
    private let operations: any SaleOperations
    private let postgres: PostgresClient
    private let settings: Settings
    private let clock: any ServiceClock
    private let logger: Logger
    private let warnings = ThrottledWarnings()

    init(nodeID: String, operations: any SaleOperations, postgresURL: String, settings: Settings = .init(), clock: any ServiceClock, logger: Logger) {
        self.nodeID = nodeID
        self.operations = operations
        self.postgres = PostgresClient(url: postgresURL, queueCapacity: 256)
        self.settings = settings
        self.clock = clock
        self.logger = logger
    }

    func create(user: String, requestId: String, items: [CartProgress.Item]) async throws(CartError) -> CartView {
        var progress = CartProgress(
            cartID: CartProgress.cartID(user: user, requestId: requestId), user: user, items: items, attemptsMax: self.settings.attemptsMax
        )
        let row = CartRecord.Row(requestId: requestId, progress: progress, version: 1, coordinator: self.nodeID)
        let recovery = self.recoveryMilliseconds
        let inserted = try await self.record { try CartRecord.insert(row, recoverAfter: .milliseconds(recovery), $0) }
        guard inserted else { return try await self.repeated(row) }
        await self.drive(&progress, progress.start())
        _ = try await self.write(progress, version: row.version)
        return try Self.answer(progress, requestId: requestId, isNew: true)
    }

    func cart(id: String) async throws(CartError) -> CartView {
        guard let row = try await self.record({ try CartRecord.read(id, $0) }) else { throw .unknownCart }
        return CartView(requestId: row.requestId, progress: row.progress, isNew: false)
    }

    func commit(id: String) async throws(CartError) -> CartView {
        let margin = self.settings.commitMargin.wholeMilliseconds
        return try await self.resolve(id, to: .committed) { (progress: inout CartProgress) throws(CartError) in
            // Not this close to the cart's expiry: its items would likely expire before they are
            // prepared (which is safe, the cart then expires as one, but not worth starting).
            let nowMilliseconds = Int64(Date().timeIntervalSince1970 * 1000)
            guard let expiresAt = progress.expiresAtMilliseconds, nowMilliseconds + margin < expiresAt else {
                throw CartError.conflict(code: "expired", "the cart expires too soon to commit every item")
            }
            return progress.commit()
        }
    }

    func release(id: String) async throws(CartError) -> CartView {
        try await self.resolve(id, to: .released) { (progress: inout CartProgress) throws(CartError) in progress.release() }
    }

    /// Commits or releases a held cart: the intent is written first, then every item resolved.
    private func resolve(
        _ id: String,
        to final: CartProgress.Phase,
        start: (inout CartProgress) throws(CartError) -> [CartProgress.Call]
    ) async throws(CartError) -> CartView {
        guard let row = try await self.record({ try CartRecord.read(id, $0) }) else { throw .unknownCart }
        var progress = row.progress
        if progress.phase == final { return CartView(requestId: row.requestId, progress: progress, isNew: false) }
        switch progress.phase {
        case .held: break
        case .refused: throw Self.refusal(of: progress)
        case .committed, .released, .expired:
            throw .conflict(code: progress.phase.rawValue, "the cart is \(progress.phase.rawValue)")
        case .reserving, .undoing, .committing, .releasing, .expiring:
            throw .sale(.unavailable("the cart is being resolved; retry"))
        }
        let calls = try start(&progress)
        let version = try await self.write(progress, version: row.version)
        await self.drive(&progress, calls)
        _ = try await self.write(progress, version: version)
        if progress.phase != final, progress.phase.isFinal {
            // An item expired or was released before it was prepared: nothing was committed.
            throw .conflict(code: progress.phase.rawValue, "an item was \(progress.phase.rawValue) before the cart could commit; nothing of it is held")
        }
        guard progress.phase == final else { throw .sale(.unavailable("not every item answered; the cart is finished in the background")) }
        return CartView(requestId: row.requestId, progress: progress, isNew: false)
    }

    /// A repeated requestId: the cart as it stands, if it is the same cart.
    private func repeated(_ asked: CartRecord.Row) async throws(CartError) -> CartView {
        guard let row = try await self.record({ try CartRecord.read(asked.progress.cartID, $0) }) else {
            throw .sale(.unavailable("the cart is being written; retry"))
        }
        guard row.requestId == asked.requestId, row.progress.user == asked.progress.user, row.progress.items == asked.progress.items else {
            throw .conflict(code: "request_id_reused", "this requestId was used for another cart")
        }
        guard row.progress.phase.isFinal else { throw .sale(.unavailable("the cart is being worked on; retry")) }
        return try Self.answer(row.progress, requestId: row.requestId, isNew: false)
    }

    /// A held (or later) cart is answered; a refused one is its refusal; an unfinished one is retried.
    private static func answer(_ progress: CartProgress, requestId: String, isNew: Bool) throws(CartError) -> CartView {
        switch progress.phase {
        case .held, .committed, .released, .expired, .committing, .releasing, .expiring:
            return CartView(requestId: requestId, progress: progress, isNew: isNew)
        case .refused:
            throw Self.refusal(of: progress)
        case .reserving, .undoing:
            throw .sale(.unavailable("an item's node did not answer; the cart is being undone, retry to learn how it ended"))
        }
    }

    private static func refusal(of progress: CartProgress) -> CartError {
        progress.refusal.map { .refused(sku: $0.sku, $0.error) } ?? .abandoned
    }

    private var recoveryMilliseconds: Int64 { self.settings.recoveryDelay.wholeMilliseconds }

    /// Writes where the cart stands, fenced by `version`; answers the new version.
    private func write(_ progress: CartProgress, version: Int64) async throws(CartError) -> Int64 {
        let recoverAfter: CartRecord.RecoverAfter
        switch progress.phase {
        case .held:
            recoverAfter = .instant((progress.expiresAtMilliseconds ?? 0) + self.settings.expiryGrace.wholeMilliseconds)
        case .refused, .committed, .released, .expired:
            recoverAfter = .never
        case .reserving, .undoing, .committing, .releasing, .expiring:
            recoverAfter = .milliseconds(self.recoveryMilliseconds)
        }
        let node = self.nodeID
        guard let next = try await self.record({ try CartRecord.update(progress, version: version, coordinator: node, recoverAfter: recoverAfter, $0) })
        else { throw .sale(.unavailable("another node took this cart over; retry")) }
        return next
    }

    private func record<Value: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> Value) async throws(CartError) -> Value {
        do {
            return try await self.postgres.withConnection(body)
        } catch {
            self.warnings.warning(self.logger, "the cart record cannot be reached", key: "record", metadata: ["error": "\(error)"])
            throw .sale(.unavailable("the cart record cannot be reached now"))
        }
    }

    /// Makes the calls, feeds their answers to `progress` and makes the calls it asks for next,
    /// until it asks for none. A call made again waits a little longer each time.
    private func drive(_ progress: inout CartProgress, _ first: [CartProgress.Call]) async {
        var pending = first
        var asked: [CartProgress.Call: Int] = [:]
        while !pending.isEmpty {
            let batch = pending.map { call in (call, self.operation(call, progress), asked[call, default: 0]) }
            pending = []
            let answers = await withTaskGroup(of: (CartProgress.Call, Result<Reservation, SaleError>).self) { group in
                for (call, operation, earlier) in batch {
                    group.addTask {
                        if earlier > 0 { try? await self.clock.sleep(for: .milliseconds(min(50 << earlier, 1000))) }
                        return (call, Self.reservation(await self.operations.run(operation), of: operation))
                    }
                }
                var answers: [(CartProgress.Call, Result<Reservation, SaleError>)] = []
                for await answer in group { answers.append(answer) }
                return answers
            }
            for (call, _, _) in batch { asked[call, default: 0] += 1 }
            for (call, outcome) in answers { pending += progress.answered(call, outcome) }
        }
    }

    private func operation(_ call: CartProgress.Call, _ progress: CartProgress) -> SaleOperation {
        switch call {
        case .reserve(let index):
            let item = progress.items[index]
            return .reserve(sku: item.sku, user: progress.user, quantity: item.quantity, requestId: progress.requestId(ofItem: index))
        case .release(let index, let id):
            return .cartRelease(sku: progress.items[index].sku, id: id)
        case .prepare(let index, let id):
            return .prepareCommit(sku: progress.items[index].sku, id: id)
        case .commit(let index, let id):
            return .commit(sku: progress.items[index].sku, id: id)
        }
    }

    private static func reservation(_ outcome: SaleOutcome, of operation: SaleOperation) -> Result<Reservation, SaleError> {
        do throws(SaleError) {
            if case .reserve = operation { return .success(try outcome.receipt().reservation) }
            return .success(try outcome.reservation())
        } catch {
            return .failure(error)
        }
    }

    /// Takes over carts whose coordinator went quiet, and held carts past their expiry, once a
    /// `claimInterval` (at once again after a full claim), and carries each to a final phase.
    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            // A full claim may have left more behind it: the next one at once.
            guard await self.recoverOnce() < self.settings.claimLimit else { continue }
            try? await cancelWhenGracefulShutdown { try await self.clock.sleep(for: self.settings.claimInterval) }
        }
        await self.postgres.stop()
    }

    /// One claim of stale carts, each carried on; answers how many were claimed.
    @discardableResult
    func recoverOnce() async -> Int {
        let (node, limit, lease) = (self.nodeID, self.settings.claimLimit, self.recoveryMilliseconds)
        let claimed: [CartRecord.Row]
        do {
            claimed = try await self.postgres.withConnection { try CartRecord.claim(by: node, limit: limit, leaseMilliseconds: lease, $0) }
        } catch {
            self.warnings.warning(self.logger, "cannot look for carts to recover", key: "claim", metadata: ["error": "\(error)"])
            return 0
        }
        await withTaskGroup(of: Void.self) { group in
            for row in claimed {
                group.addTask {
                    var progress = row.progress
                    let calls = progress.phase == .held ? progress.expire() : progress.recover()
                    self.logger.info("recovering a cart", metadata: ["cart": "\(row.progress.cartID)", "phase": "\(row.progress.phase.rawValue)"])
                    await self.drive(&progress, calls)
                    do {
                        _ = try await self.write(progress, version: row.version)
                    } catch {
                        self.warnings.warning(self.logger, "cannot record a recovered cart", key: "recover", metadata: ["error": "\(error)"])
                    }
                }
            }
        }
        return claimed.count
    }
}
