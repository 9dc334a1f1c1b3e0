import FlashSaleCore
import Synchronization

/// The sale operations with SKUs split over buckets (`SKUBuckets`), on top of the routed ones:
/// a split SKU's own entry holds its settings, each bucket is an internal SKU that routing places
/// and serves like any other. A user's reservations go to their bucket; a bucket that runs dry
/// takes stock from the others (`PendingTransfer`) before its user hears `sold_out`; reads add the
/// buckets up. SKUs of one bucket pass straight through, after one read per SKU and node to learn that.
struct SplitSKUOperations: SaleOperations {
    let routed: any SaleOperations
    private let bucketCounts = BucketCounts()
    private let refills = Refills()

    init(routed: any SaleOperations) {
        self.routed = routed
    }

    /// A split SKU is defined in two steps: its own entry (which fixes its settings), then each
    /// bucket with its share of the stock. A bucket that exists already is left as it is, so a
    /// define repeated after a crash between the steps completes the SKU and changes nothing else.
    func defineSKU(_ sku: String, settings: SKUSettings) async throws -> SKUDefinition {
        let definition = try await self.routed.defineSKU(sku, settings: settings)
        self.bucketCounts.remember(sku, definition.state.settings.buckets)
        guard settings.buckets > 1 else { return definition }
        var buckets: [SKUState] = []
        for (index, share) in SKUBuckets.shares(of: settings.stock, buckets: settings.buckets).enumerated() {
            let bucketSettings = SKUSettings(stock: share, perUserLimit: settings.perUserLimit, reservationTtlSeconds: settings.reservationTtlSeconds)
            buckets.append(try await self.routed.defineSKU(SKUBuckets.name(of: sku, bucket: index), settings: bucketSettings).state)
        }
        return SKUDefinition(state: Self.total(definition.state, buckets), isNew: definition.isNew)
    }

    func skuState(_ sku: String) async throws -> SKUState {
        let state = try await self.entryState(sku)
        guard state.settings.buckets > 1 else { return state }
        let routed = self.routed
        let buckets = try await withThrowingTaskGroup(of: SKUState.self) { group in
            for index in 0..<Int(state.settings.buckets) {
                group.addTask {
                    do {
                        return try await routed.skuState(SKUBuckets.name(of: sku, bucket: index))
                    } catch SaleError.unknownSKU {
                        throw SaleError.unavailable("bucket \(index) of \(sku) is not defined yet; define the SKU again or retry")
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        return Self.total(state, buckets)
    }

    /// Reserves in the user's bucket; when it is sold out, takes stock from the other buckets and
    /// tries again. `sold_out` only when no other bucket had anything to give.
    func reserve(sku: String, user: String, quantity: Int64, requestId: String) async throws -> ReservationReceipt {
        let buckets = try await self.buckets(of: sku)
        guard buckets > 1 else { return try await self.routed.reserve(sku: sku, user: user, quantity: quantity, requestId: requestId) }
        let bucket = SKUBuckets.bucket(of: user, buckets: buckets)
        let name = SKUBuckets.name(of: sku, bucket: bucket)
        for _ in 0..<Self.attemptsMaximum {
            do {
                var receipt = try await self.routed.reserve(sku: name, user: user, quantity: quantity, requestId: requestId)
                receipt.reservation.sku = sku
                return receipt
            } catch SaleError.soldOut {
                guard try await self.refill(sku, bucket: bucket, of: buckets) else { throw SaleError.soldOut }
            }
        }
        throw SaleError.unavailable("the stock of \(sku) is moving between its buckets; retry with the same requestId")
    }

    /// Reserve, refill, reserve again: other buyers of the bucket may take what a refill brought.
    static let attemptsMaximum = 4

    func reservation(sku: String, id: String) async throws -> Reservation {
        try await self.resolve(sku, id) { try await $0.reservation(sku: $1, id: id) }
    }

    func commit(sku: String, id: String) async throws -> Reservation {
        try await self.resolve(sku, id) { try await $0.commit(sku: $1, id: id) }
    }

    func release(sku: String, id: String) async throws -> Reservation {
        try await self.resolve(sku, id) { try await $0.release(sku: $1, id: id) }
    }

    /// A reservation id names its bucket: the call goes straight there.
    private func resolve(
        _ sku: String,
        _ id: String,
        _ call: (any SaleOperations, String) async throws -> Reservation
    ) async throws -> Reservation {
        guard let bucket = SKUBuckets.bucket(ofReservation: id), bucket < SKUBuckets.maximum else {
            return try await call(self.routed, sku)
        }
        var reservation = try await call(self.routed, SKUBuckets.name(of: sku, bucket: bucket))
        reservation.sku = sku
        return reservation
    }

    func takeForTransfer(donor: String, recipient: Int) async throws -> PendingTransfer? {
        try await self.routed.takeForTransfer(donor: donor, recipient: recipient)
    }

    func receiveTransfer(recipient: String, _ transfer: PendingTransfer) async throws -> Bool {
        try await self.routed.receiveTransfer(recipient: recipient, transfer)
    }

    func finishTransfer(donor: String, _ transfer: PendingTransfer) async throws {
        try await self.routed.finishTransfer(donor: donor, transfer)
    }

    /// Completes a transfer: the recipient adds the units (once), then the donor forgets it.
    func deliver(_ transfer: PendingTransfer, of sku: String) async throws {
        _ = try await self.routed.receiveTransfer(recipient: SKUBuckets.name(of: sku, bucket: transfer.recipient), transfer)
        try await self.routed.finishTransfer(donor: SKUBuckets.name(of: sku, bucket: transfer.donor), transfer)
    }

    private func buckets(of sku: String) async throws -> Int64 {
        if let known = self.bucketCounts.count(of: sku) { return known }
        return try await self.entryState(sku).settings.buckets
    }

    /// The SKU's own entry: a SKU of one bucket, or a split SKU's settings.
    private func entryState(_ sku: String) async throws -> SKUState {
        let state = try await self.routed.skuState(sku)
        self.bucketCounts.remember(sku, state.settings.buckets)
        return state
    }

    /// Brings stock into `bucket` from the others, one donor after another; false when none had
    /// any. One refill per bucket at a time on this node: the buyers who find the bucket empty
    /// meanwhile wait for it rather than each draining a donor. A refill that found every other
    /// bucket empty is remembered for a moment, so the herd after the sell-out costs one call each.
    private func refill(_ sku: String, bucket: Int, of buckets: Int64) async throws -> Bool {
        let key = SKUBuckets.name(of: sku, bucket: bucket)
        let now = ContinuousClock.now
        let task: Task<Bool, any Error>
        switch self.refills.begin(key, now: now, start: {
            Task { try await self.takeFromOthers(sku, bucket: bucket, of: buckets) }
        }) {
        case .othersEmpty: return false
        case .running(let running): task = running
        }
        let refilled: Bool
        do {
            refilled = try await task.value
        } catch {
            self.refills.end(key, task: task, othersEmpty: false, now: ContinuousClock.now)
            throw error
        }
        self.refills.end(key, task: task, othersEmpty: !refilled, now: ContinuousClock.now)
        return refilled
    }

    /// A donor that cannot answer (its node is gone or cut off) is passed over; when no other gave
    /// anything, that makes the answer "retry" (503) rather than `sold_out`.
    private func takeFromOthers(_ sku: String, bucket: Int, of buckets: Int64) async throws -> Bool {
        let count = Int(buckets)
        var unanswered: (any Error)?
        for step in 1..<count {
            let donor = (bucket + step) % count
            do {
                // The donor's unfinished transfer to another bucket is delivered first, then it gives again.
                for _ in 0..<2 {
                    guard let transfer = try await self.routed.takeForTransfer(donor: SKUBuckets.name(of: sku, bucket: donor), recipient: bucket)
                    else { break }
                    try await self.deliver(transfer, of: sku)
                    if transfer.recipient == bucket { return true }
                }
            } catch {
                unanswered = error
            }
        }
        if let unanswered { throw unanswered }
        return false
    }

    /// A split SKU's view: its settings, with the stock and counters of its buckets added up.
    private static func total(_ entry: SKUState, _ buckets: [SKUState]) -> SKUState {
        var settings = entry.settings
        settings.stock = buckets.reduce(0) { $0 + $1.settings.stock }
        return SKUState(
            sku: entry.sku,
            settings: settings,
            reserved: buckets.reduce(0) { $0 + $1.reserved },
            committed: buckets.reduce(0) { $0 + $1.committed }
        )
    }
}

/// How many buckets each SKU has, as this node has read them: fixed once a SKU is defined, so never stale.
private final class BucketCounts: Sendable {
    /// Bounded: past this many SKUs the table starts again (each SKU costs one more read to relearn).
    static let entriesMaximum = 100_000
    private let counts = Mutex<[String: Int64]>([:])

    func count(of sku: String) -> Int64? {
        self.counts.withLock { $0[sku] }
    }

    func remember(_ sku: String, _ buckets: Int64) {
        self.counts.withLock { counts in
            if counts.count >= Self.entriesMaximum { counts.removeAll(keepingCapacity: true) }
            counts[sku] = buckets
        }
    }
}

/// The refills in progress on this node, one per bucket, and the buckets whose last refill found
/// every other bucket empty, for `othersEmptyFor`.
private final class Refills: Sendable {
    static let othersEmptyFor: Duration = .milliseconds(100)
    /// Bounded: the buckets of the SKUs on sale now.
    static let entriesMaximum = 10_000

    enum Begin {
        case running(Task<Bool, any Error>)
        case othersEmpty
    }

    private struct State {
        var running: [String: Task<Bool, any Error>] = [:]
        var othersEmptySince: [String: ContinuousClock.Instant] = [:]
    }

    private let state = Mutex(State())

    func begin(_ key: String, now: ContinuousClock.Instant, start: () -> Task<Bool, any Error>) -> Begin {
        self.state.withLock { state in
            if let since = state.othersEmptySince[key], now - since < Self.othersEmptyFor { return .othersEmpty }
            if let running = state.running[key] { return .running(running) }
            let task = start()
            state.running[key] = task
            return .running(task)
        }
    }

    func end(_ key: String, task: Task<Bool, any Error>, othersEmpty: Bool, now: ContinuousClock.Instant) {
        self.state.withLock { state in
            if state.running[key] == task { state.running[key] = nil }
            if othersEmpty {
                if state.othersEmptySince.count >= Self.entriesMaximum { state.othersEmptySince.removeAll(keepingCapacity: true) }
                state.othersEmptySince[key] = now
            } else {
                state.othersEmptySince[key] = nil
            }
        }
    }
}
