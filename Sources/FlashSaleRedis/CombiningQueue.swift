/// Which calls of one SKU go to Redis together, as a pure state machine: while a SKU has a call in
/// flight, later callers wait; when it finishes, the waiters (at most `batchMax`) become the next
/// call, sent by the first of them, so a hot SKU's reservations share one script call instead of
/// one each. A SKU with nothing in flight is called at once: no timer, no added wait at low load.
/// Bounded: past `waitingMax` waiters on one SKU a caller is refused (503).
struct CombiningQueue<Waiter> {
    enum Arrival: Hashable {
        /// Nothing in flight for this SKU: call now.
        case lead
        /// Queued behind the call in flight.
        case wait
        /// Too many wait already.
        case full
    }

    let batchMax: Int
    let waitingMax: Int
    /// SKUs with a call in flight, and who waits behind it.
    private var waiting: [String: [Waiter]] = [:]

    init(batchMax: Int, waitingMax: Int) {
        precondition(batchMax >= 1 && waitingMax >= 0)
        self.batchMax = batchMax
        self.waitingMax = waitingMax
    }

    var skusInFlight: Int { self.waiting.count }

    mutating func arrive(sku: String, _ waiter: Waiter) -> Arrival {
        guard let count = self.waiting[sku]?.count else {
            self.waiting[sku] = []
            return .lead
        }
        guard count < self.waitingMax else { return .full }
        // In place: a copy taken out of the dictionary would copy every waiter on each arrival.
        self.waiting[sku]!.append(waiter)
        return .wait
    }

    /// The call in flight for `sku` answered: the next call's waiters, oldest first (the first
    /// sends it), or empty when none waits (the SKU has nothing in flight any more).
    mutating func finished(sku: String) -> [Waiter] {
        guard let count = self.waiting[sku]?.count else { preconditionFailure("finished \(sku) without a call in flight") }
        if count == 0 {
            self.waiting[sku] = nil
            return []
        }
        let taken = min(count, self.batchMax)
        let batch = Array(self.waiting[sku]![..<taken])
        self.waiting[sku]!.removeFirst(taken)
        return batch
    }
}
