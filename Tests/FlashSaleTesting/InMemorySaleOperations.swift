public import FlashSaleCore
import Synchronization

/// The sale operations of one shard held in memory, for tests of the layers above a shard (the
/// HTTP API's access control and limits) that need a sale but not Redis. It follows the scripts'
/// rules for SKUs of one bucket, with the reservation lifecycle from Core and time from the
/// caller; `InMemorySaleOperationsTests` runs the same sale on it and on a real shard and compares
/// every answer, so it cannot drift from the scripts unnoticed. Split SKUs and transfers are not
/// held here: those answer `unavailable`.
public final class InMemorySaleOperations: SaleOperations {
    private struct Held {
        var reservation: Reservation
        var lifecycle: ReservationLifecycle
    }

    private struct SKU {
        var settings: SKUSettings
        var reserved: Int64 = 0
        var committed: Int64 = 0
        var reservations: [String: Held] = [:]
        var byRequestId: [String: String] = [:]

        var state: SKUState { SKUState(sku: "", settings: self.settings, reserved: self.reserved, committed: self.committed) }
    }

    private let skus = Mutex<[String: SKU]>([:])
    private let nowMilliseconds: @Sendable () -> Int64
    private let nextID = Atomic<Int>(0)

    public init(nowMilliseconds: @escaping @Sendable () -> Int64) {
        self.nowMilliseconds = nowMilliseconds
    }

    public func run(_ operation: SaleOperation) async -> SaleOutcome {
        let now = self.nowMilliseconds()
        return self.skus.withLock { skus in
            switch operation {
            case .defineSKU(let name, let settings):
                guard settings.buckets == 1 else { return .failure(.unavailable("split SKUs are not held in memory")) }
                guard var sku = skus[name] else {
                    skus[name] = SKU(settings: settings)
                    return .skuDefinition(SKUDefinition(state: Self.state(name, skus[name]!), isNew: true))
                }
                Self.expireDue(&sku, now: now)
                guard settings.stock >= sku.reserved + sku.committed else {
                    skus[name] = sku
                    return .failure(.stockBelowSold(reservedAndCommitted: sku.reserved + sku.committed))
                }
                sku.settings = settings
                skus[name] = sku
                return .skuDefinition(SKUDefinition(state: Self.state(name, sku), isNew: false))
            case .skuState(let name):
                guard var sku = skus[name] else { return .failure(.unknownSKU) }
                Self.expireDue(&sku, now: now)
                skus[name] = sku
                return .skuState(Self.state(name, sku))
            case .reserve(let name, let user, let quantity, let requestId):
                guard var sku = skus[name] else { return .failure(.unknownSKU) }
                defer { skus[name] = sku }
                Self.expireDue(&sku, now: now)
                if let id = sku.byRequestId[requestId], let held = sku.reservations[id] {
                    return .receipt(ReservationReceipt(reservation: held.reservation, isNew: false))
                }
                let phase = sku.settings.phase(atMilliseconds: now)
                if phase == .ended { return .failure(.saleEnded) }
                if phase == .scheduled { return .failure(.notStarted(opensInMilliseconds: sku.settings.startsAtMilliseconds! - now)) }
                let heldByUser = sku.reservations.values
                    .filter { $0.reservation.user == user && ($0.lifecycle.status == .reserved || $0.lifecycle.status == .committed) }
                    .reduce(0) { $0 + $1.reservation.quantity }
                guard heldByUser + quantity <= sku.settings.perUserLimit else { return .failure(.limitExceeded) }
                guard sku.settings.stock - sku.reserved - sku.committed >= quantity else { return .failure(.soldOut) }
                let id = "m\(self.nextID.add(1, ordering: .relaxed).newValue)"
                let expiresAt = now + sku.settings.reservationTtlSeconds * 1000
                let reservation = Reservation(
                    id: id, sku: name, user: user, quantity: quantity, status: .reserved, expiresAtMilliseconds: expiresAt, requestId: requestId
                )
                sku.reservations[id] = Held(reservation: reservation, lifecycle: ReservationLifecycle(status: .reserved, expiresAtMilliseconds: expiresAt))
                sku.byRequestId[requestId] = id
                sku.reserved += quantity
                return .receipt(ReservationReceipt(reservation: reservation, isNew: true))
            case .reservation(let name, let id):
                return Self.resolve(&skus, name, id, .expireIfDue, now: now)
            case .commit(let name, let id):
                return Self.resolve(&skus, name, id, .commit, now: now)
            case .release(let name, let id):
                return Self.resolve(&skus, name, id, .release, now: now)
            case .prepareCommit(let name, let id):
                return Self.resolve(&skus, name, id, .prepareCommit, now: now)
            case .cartRelease(let name, let id):
                return Self.resolve(&skus, name, id, .cartRelease, now: now)
            case .closeSKU(let name):
                guard var sku = skus[name] else { return .failure(.unknownSKU) }
                if (sku.settings.endsAtMilliseconds ?? .max) > now { sku.settings.endsAtMilliseconds = now }
                skus[name] = sku
                return .skuState(Self.state(name, sku))
            case .takeForTransfer, .receiveTransfer, .finishTransfer:
                return .failure(.unavailable("split SKUs are not held in memory"))
            }
        }
    }

    private static func state(_ name: String, _ sku: SKU) -> SKUState {
        var state = sku.state
        state.sku = name
        return state
    }

    private static func resolve(
        _ skus: inout [String: SKU],
        _ name: String,
        _ id: String,
        _ command: ReservationCommand,
        now: Int64
    ) -> SaleOutcome {
        guard var sku = skus[name], var held = sku.reservations[id] else { return .failure(.unknownReservation) }
        defer { skus[name] = sku }
        let before = held.lifecycle.status
        let action = held.lifecycle.handle(command, nowMilliseconds: now)
        Self.move(&sku, held.reservation.quantity, from: before, to: held.lifecycle.status)
        held.reservation.status = held.lifecycle.status
        sku.reservations[id] = held
        if case .refuse(let refusal, _) = action { return .failure(.refused(refusal)) }
        return .reservation(held.reservation)
    }

    private static func expireDue(_ sku: inout SKU, now: Int64) {
        for (id, var held) in sku.reservations where held.lifecycle.status == .reserved && held.lifecycle.isDue(nowMilliseconds: now) {
            _ = held.lifecycle.handle(.expireIfDue, nowMilliseconds: now)
            held.reservation.status = held.lifecycle.status
            sku.reservations[id] = held
            Self.move(&sku, held.reservation.quantity, from: .reserved, to: .expired)
        }
    }

    /// The counters follow a reservation's status: held while reserved or committed, back in stock otherwise.
    private static func move(_ sku: inout SKU, _ quantity: Int64, from before: ReservationStatus, to after: ReservationStatus) {
        guard before != after else { return }
        if before == .reserved { sku.reserved -= quantity }
        if before == .committed { sku.committed -= quantity }
        if after == .reserved { sku.reserved += quantity }
        if after == .committed { sku.committed += quantity }
    }
}
