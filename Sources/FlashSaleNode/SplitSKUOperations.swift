import FlashSaleCore
import FlashSaleRouting
import Synchronization

/// The sale operations with SKUs split over buckets (`SKUBuckets`), on top of the routed ones:
/// a split SKU's own entry holds its settings, each bucket is an internal SKU that routing places
/// and serves like any other (`BucketPlan` says which). A bucket that runs dry takes stock from
/// the others (`PendingTransfer`) before its user hears `sold_out`; reads add the buckets up. SKUs
/// of one bucket pass straight through, after one read per SKU and node to learn that.
struct SplitSKUOperations: SaleOperations {
    let routed: any SaleOperations
    private let bucketCounts = BucketCounts()
    private let refills: Refills

    init(routed: any SaleOperations, clock: any ServiceClock = SystemClock()) {
        self.routed = routed
        self.refills = Refills(clock: clock)
    }

    func run(_ operation: SaleOperation) async -> SaleOutcome {
        do throws(SaleError) {
            let buckets = BucketPlan.needsBucketCount(operation) ? try await self.buckets(of: operation.sku) : 1
            switch BucketPlan.plan(operation, buckets: buckets) {
            case .whole:
                let outcome = await self.routed.run(operation)
                if case .skuDefinition(let definition) = outcome { self.bucketCounts.remember(operation.sku, definition.state.settings.buckets) }
                if case .skuState(let state) = outcome, state.settings.buckets > 1 {
                    // A read of a SKU this node took for whole: it is split, so add its buckets up.
                    self.bucketCounts.remember(operation.sku, state.settings.buckets)
                    return .skuState(try await self.total(of: state))
                }
                return outcome
            case .bucket(let bucket):
                if case .reserve = operation { return try await self.reserve(operation, bucket: bucket, of: buckets) }
                return await self.routed.run(operation.on(SKUBuckets.name(of: operation.sku, bucket: bucket))).renamingSKU(operation.sku)
            case .entryThenEveryBucket:
                if case .defineSKU(let sku, let settings) = operation { return .skuDefinition(try await self.define(sku, settings)) }
                if case .closeSKU(let sku) = operation { return .skuState(try await self.close(sku)) }
                let state = try await self.entryState(operation.sku)
                return .skuState(state.settings.buckets > 1 ? try await self.total(of: state) : state)
            }
        } catch {
            return .failure(error)
        }
    }

    /// A split SKU is defined in two steps: its own entry (which fixes its settings), then each
    /// bucket with its share of the stock. A bucket that exists already is left as it is, so a
    /// define repeated after a crash between the steps completes the SKU and changes nothing else.
    private func define(_ sku: String, _ settings: SKUSettings) async throws(SaleError) -> SKUDefinition {
        let definition = try await self.routed.run(.defineSKU(sku: sku, settings: settings)).skuDefinition()
        self.bucketCounts.remember(sku, definition.state.settings.buckets)
        var buckets: [SKUState] = []
        for (index, share) in SKUBuckets.shares(of: settings.stock, buckets: settings.buckets).enumerated() {
            let bucketSettings = SKUSettings(
                stock: share, perUserLimit: settings.perUserLimit, reservationTtlSeconds: settings.reservationTtlSeconds,
                startsAtMilliseconds: settings.startsAtMilliseconds, endsAtMilliseconds: settings.endsAtMilliseconds
            )
            let bucket = SKUBuckets.name(of: sku, bucket: index)
            buckets.append(try await self.routed.run(.defineSKU(sku: bucket, settings: bucketSettings)).skuDefinition().state)
        }
        return SKUDefinition(state: Self.total(definition.state, buckets), isNew: definition.isNew)
    }

    /// A split SKU closes in its own entry, then in every bucket (each on its own shard's clock),
    /// whose answers add up to the SKU's view; a close repeated after a crash between the steps
    /// closes the rest and changes nothing else.
    private func close(_ sku: String) async throws(SaleError) -> SKUState {
        try await self.total(of: try await self.routed.run(.closeSKU(sku: sku)).skuState(), asking: { .closeSKU(sku: $0) })
    }

    /// The entry's view with its buckets' stock and counters added up, each bucket asked
    /// `operation` (a read, or a close) at once.
    private func total(
        of entry: SKUState,
        asking operation: @escaping @Sendable (String) -> SaleOperation = { .skuState(sku: $0) }
    ) async throws(SaleError) -> SKUState {
        let routed = self.routed
        let sku = entry.sku
        let outcomes = await withTaskGroup(of: (Int, SaleOutcome).self) { group in
            for index in 0..<Int(entry.settings.buckets) {
                group.addTask { (index, await routed.run(operation(SKUBuckets.name(of: sku, bucket: index)))) }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        var buckets: [SKUState] = []
        for (index, outcome) in outcomes {
            if case .failure(.unknownSKU) = outcome {
                throw .unavailable("bucket \(index) of \(sku) is not defined yet; define the SKU again or retry")
            }
            buckets.append(try outcome.skuState())
        }
        return Self.total(entry, buckets)
    }

    /// Reserves in the user's bucket; when it is sold out, takes stock from the other buckets and
    /// tries again. `sold_out` only when no other bucket had anything to give.
    private func reserve(_ operation: SaleOperation, bucket: Int, of buckets: Int64) async throws(SaleError) -> SaleOutcome {
        let sku = operation.sku
        let inBucket = operation.on(SKUBuckets.name(of: sku, bucket: bucket))
        for _ in 0..<Self.attemptsMaximum {
            let outcome = await self.routed.run(inBucket)
            guard case .failure(.soldOut) = outcome else { return outcome.renamingSKU(sku) }
            guard try await self.refill(sku, bucket: bucket, of: buckets) else { throw .soldOut }
        }
        throw .unavailable("the stock of \(sku) is moving between its buckets; retry with the same requestId")
    }

    /// Reserve, refill, reserve again: other buyers of the bucket may take what a refill brought.
    static let attemptsMaximum = 4

    /// Completes a transfer: the recipient adds the units (once), then the donor forgets it.
    func deliver(_ transfer: PendingTransfer, of sku: String) async throws(SaleError) {
        _ = try await self.routed.run(.receiveTransfer(sku: SKUBuckets.name(of: sku, bucket: transfer.recipient), transfer)).transferDelivered()
        _ = try await self.routed.run(.finishTransfer(sku: SKUBuckets.name(of: sku, bucket: transfer.donor), transfer)).transferDelivered()
    }

    private func buckets(of sku: String) async throws(SaleError) -> Int64 {
        if let known = self.bucketCounts.count(of: sku) { return known }
        return try await self.entryState(sku).settings.buckets
    }

    /// The SKU's own entry: a SKU of one bucket, or a split SKU's settings.
    private func entryState(_ sku: String) async throws(SaleError) -> SKUState {
        let state = try await self.routed.run(.skuState(sku: sku)).skuState()
        self.bucketCounts.remember(sku, state.settings.buckets)
        return state
    }

    /// Brings stock into `bucket` from the others, one donor after another; false when none had
    /// any. One refill per bucket at a time on this node: the buyers who find the bucket empty
    /// meanwhile wait for it rather than each draining a donor. A refill that found every other
    /// bucket empty is remembered for a moment, so the herd after the sell-out costs one call each.
    private func refill(_ sku: String, bucket: Int, of buckets: Int64) async throws(SaleError) -> Bool {
        let key = SKUBuckets.name(of: sku, bucket: bucket)
        let task: Task<Bool, any Error>
        switch self.refills.begin(key, start: {
            Task { try await self.takeFromOthers(sku, bucket: bucket, of: buckets) }
        }) {
        case .othersEmpty: return false
        case .running(let running): task = running
        }
        let refilled: Bool
        do {
            refilled = try await task.value
        } catch {
            self.refills.end(key, task: task, othersEmpty: false)
            throw error as? SaleError ?? .unavailable("\(error)")
        }
        self.refills.end(key, task: task, othersEmpty: !refilled)
        return refilled
    }

    /// A donor that cannot answer (its node is gone or cut off) is passed over; when no other gave
    /// anything, that makes the answer "retry" (503) rather than `sold_out`.
    private func takeFromOthers(_ sku: String, bucket: Int, of buckets: Int64) async throws(SaleError) -> Bool {
        var unanswered: SaleError?
        for donor in BucketPlan.donors(for: bucket, of: buckets) {
            do throws(SaleError) {
                // The donor's unfinished transfer to another bucket is delivered first, then it gives again.
                for _ in 0..<2 {
                    let take = SaleOperation.takeForTransfer(sku: SKUBuckets.name(of: sku, bucket: donor), recipient: bucket)
                    guard let transfer = try await self.routed.run(take).transferTaken() else { break }
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
    private let clock: any ServiceClock

    init(clock: any ServiceClock) {
        self.clock = clock
    }

    func begin(_ key: String, start: () -> Task<Bool, any Error>) -> Begin {
        let now = self.clock.now
        return self.state.withLock { state in
            if let since = state.othersEmptySince[key], now - since < Self.othersEmptyFor { return .othersEmpty }
            if let running = state.running[key] { return .running(running) }
            let task = start()
            state.running[key] = task
            return .running(task)
        }
    }

    func end(_ key: String, task: Task<Bool, any Error>, othersEmpty: Bool) {
        let now = self.clock.now
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
