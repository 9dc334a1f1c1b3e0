/// The moves one node must make when the membership changes: every SKU on its shard that the new
/// placement gives to another node, moved at most `concurrency` at a time so that a join does not
/// stall the sale, failed moves retried after a backoff, and progress counted for the operator.
/// Pure: the rebalancer's I/O shell asks it what to start, and reports back; time is passed in.
public struct HandoffPlan: Sendable, Hashable {
    public struct Move: Sendable, Hashable {
        public var sku: String
        public var to: String
    }

    public struct Progress: Sendable, Hashable {
        public var toMove: Int
        public var moved: Int
        public var moving: Int
        /// Attempts that failed (each is retried until the SKU moves or the plan is replaced).
        public var failedAttempts: Int
        public var isDone: Bool { self.moved == self.toMove }

        public init(toMove: Int, moved: Int, moving: Int, failedAttempts: Int) {
            self.toMove = toMove
            self.moved = moved
            self.moving = moving
            self.failedAttempts = failedAttempts
        }
    }

    public let epoch: Int64
    public let concurrency: Int
    public let retryBackoff: Duration
    private var waiting: [Move]
    private var retryAt: [String: ContinuousClock.Instant] = [:]
    private var inFlight: [String: Move] = [:]
    private var moved = 0
    private var failedAttempts = 0
    private let total: Int

    /// `skus`: the SKUs on this node's shard. Those that `membership` gives to another node are to move.
    public init(
        node: String,
        skus: [String],
        membership: Membership,
        concurrency: Int,
        retryBackoff: Duration = .milliseconds(200)
    ) {
        precondition(concurrency >= 1, "at least one move at a time")
        self.epoch = membership.epoch
        self.concurrency = concurrency
        self.retryBackoff = retryBackoff
        // Sorted, so a plan made twice from the same inputs moves SKUs in the same order.
        self.waiting = skus.sorted().compactMap { sku in
            guard let owner = membership.owner(of: sku)?.id, owner != node else { return nil }
            return Move(sku: sku, to: owner)
        }
        self.total = self.waiting.count
    }

    /// The moves to start now: as many as the concurrency allows, skipping SKUs still in their backoff.
    public mutating func start(now: ContinuousClock.Instant) -> [Move] {
        var started: [Move] = []
        var index = 0
        while self.inFlight.count < self.concurrency, index < self.waiting.count {
            let move = self.waiting[index]
            if let retry = self.retryAt[move.sku], retry > now {
                index += 1
                continue
            }
            self.waiting.remove(at: index)
            self.retryAt[move.sku] = nil
            self.inFlight[move.sku] = move
            started.append(move)
        }
        return started
    }

    /// The earliest instant `start` has a move to give if no move in flight ends first: nil while
    /// the moves in flight fill the concurrency (one ending comes first) or none waits.
    public func nextStart(now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        guard self.inFlight.count < self.concurrency else { return nil }
        return self.waiting.map { self.retryAt[$0.sku] ?? now }.min()
    }

    /// The new owner has the SKU and acknowledged it.
    public mutating func completed(_ sku: String) {
        guard self.inFlight.removeValue(forKey: sku) != nil else { return }
        self.moved += 1
    }

    /// The move failed (the new owner unreachable, a refusal): it goes back in line after the backoff.
    public mutating func failed(_ sku: String, now: ContinuousClock.Instant) {
        guard let move = self.inFlight.removeValue(forKey: sku) else { return }
        self.failedAttempts += 1
        self.retryAt[sku] = now + self.retryBackoff
        self.waiting.append(move)
    }

    public var progress: Progress {
        Progress(toMove: self.total, moved: self.moved, moving: self.inFlight.count, failedAttempts: self.failedAttempts)
    }
}
