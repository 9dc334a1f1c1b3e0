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
        guard var queue = self.waiting[sku] else {
            self.waiting[sku] = []
            return .lead
        }
        guard queue.count < self.waitingMax else { return .full }
        queue.append(waiter)
        self.waiting[sku] = queue
        return .wait
    }

    /// The call in flight for `sku` answered: the next call's waiters, oldest first (the first
    /// sends it), or empty when none waits (the SKU has nothing in flight any more).
    mutating func finished(sku: String) -> [Waiter] {
        guard let queue = self.waiting[sku] else { preconditionFailure("finished \(sku) without a call in flight") }
        if queue.isEmpty {
            self.waiting[sku] = nil
            return []
        }
        let batch = Array(queue.prefix(self.batchMax))
        self.waiting[sku] = Array(queue.dropFirst(batch.count))
        return batch
    }
}
