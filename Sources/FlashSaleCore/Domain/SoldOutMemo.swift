/// What a shard's owner may answer `sold_out` from memory, as a pure state machine with time passed
/// in: the herd that arrives after a SKU sells out costs no Redis call.
///
/// A SKU is memoised only from a snapshot taken in Redis in one script call: nothing available
/// (after expiring what was due), every requestId that ever took stock of it, and how long until
/// its first reservation falls due. While the memo holds, a reserve whose requestId is not in the
/// snapshot is answered `sold_out` (Redis would answer the same: only a release, an expiry, a stock
/// increase, a transfer or a handoff can make stock available again); a requestId in it goes to
/// Redis, so a retry of a request that took a unit always gets its reservation back (I5).
///
/// A memo ends at the first of:
/// - any other operation on the SKU through this store, before it is sent and again when it is
///   answered (`changing`), and any reservation answered from Redis for it;
/// - its first reservation falling due (counted from when the snapshot was sent);
/// - `lifetime`, which must be shorter than the membership lease minus its heartbeat interval: a
///   node paused long enough for a survivor to adopt its shard (and write to it) finds every memo
///   ended when it wakes;
/// - a membership epoch other than the snapshot's.
public struct SoldOutMemo: Sendable {
    public struct Settings: Sendable, Hashable {
        public var lifetime: Duration
        /// A SKU with more requestIds than this is not memoised (its snapshot would be too big).
        public var requestIdsMax: Int
        public var skusMax: Int

        public init(lifetime: Duration = .milliseconds(500), requestIdsMax: Int = 200_000, skusMax: Int = 1024) {
            precondition(lifetime > .zero && requestIdsMax >= 0 && skusMax >= 1)
            self.lifetime = lifetime
            self.requestIdsMax = requestIdsMax
            self.skusMax = skusMax
        }
    }

    public enum Answer: Sendable, Hashable {
        case soldOut
        /// Ask Redis.
        case ask
    }

    /// What the snapshot script found.
    public enum Snapshot: Sendable, Hashable {
        /// Nothing available; `firstDueIn`: until the earliest reservation still held falls due
        /// (nil: none is held).
        case soldOut(requestIds: Set<String>, firstDueIn: Duration?)
        /// Some stock is available (less than that request asked for), or the SKU is split or gone.
        case notSoldOut
    }

    private enum Entry: Sendable {
        case snapshotting(token: UInt64, until: ContinuousClock.Instant)
        case soldOut(epoch: Int64, until: ContinuousClock.Instant, requestIds: Set<String>)
        /// Found not sold out: no new snapshot before `until`, so that a SKU with one unit left and
        /// buyers of two does not cost a snapshot per request.
        case declined(until: ContinuousClock.Instant)

        var until: ContinuousClock.Instant {
            switch self {
            case .snapshotting(_, let until), .soldOut(_, let until, _), .declined(let until): until
            }
        }
    }

    public let settings: Settings
    private var entries: [String: Entry] = [:]
    private var nextToken: UInt64 = 0

    public init(settings: Settings = .init()) {
        self.settings = settings
    }

    public var memoisedSKUs: Int {
        self.entries.values.count { if case .soldOut = $0 { true } else { false } }
    }

    public func answer(sku: String, requestId: String, epoch: Int64, now: ContinuousClock.Instant) -> Answer {
        guard case .soldOut(let memoEpoch, let until, let requestIds) = self.entries[sku],
            memoEpoch == epoch, now < until, !requestIds.contains(requestId)
        else { return .ask }
        return .soldOut
    }

    /// Something other than a refused reserve is about to happen, or happened, to `sku`.
    public mutating func changing(_ sku: String) {
        self.entries[sku] = nil
    }

    /// Redis answered `sold_out` for `sku`: returns the token of a snapshot to take now, or nil
    /// (one is on its way, the SKU is memoised or was just found not sold out, or the table is full).
    public mutating func soldOutAnswered(sku: String, now: ContinuousClock.Instant) -> UInt64? {
        if let entry = self.entries[sku], now < entry.until { return nil }
        if self.entries[sku] == nil && self.entries.count >= self.settings.skusMax {
            self.entries = self.entries.filter { now < $0.value.until }
            guard self.entries.count < self.settings.skusMax else { return nil }
        }
        self.nextToken += 1
        self.entries[sku] = .snapshotting(token: self.nextToken, until: now + self.settings.lifetime)
        return self.nextToken
    }

    /// The snapshot of token `token`, sent at `sentAt` under membership `epoch`, answered. It is
    /// kept only if nothing changed the SKU since it was asked for.
    public mutating func snapshotTaken(sku: String, token: UInt64, epoch: Int64, sentAt: ContinuousClock.Instant, _ snapshot: Snapshot) {
        guard case .snapshotting(let current, _) = self.entries[sku], current == token else { return }
        switch snapshot {
        case .soldOut(let requestIds, let firstDueIn) where requestIds.count <= self.settings.requestIdsMax:
            let until = sentAt + min(self.settings.lifetime, firstDueIn ?? self.settings.lifetime)
            self.entries[sku] = .soldOut(epoch: epoch, until: until, requestIds: requestIds)
        case .soldOut, .notSoldOut:
            self.entries[sku] = .declined(until: sentAt + self.settings.lifetime)
        }
    }

    /// The snapshot could not be taken (Redis unreachable): try again on the next `sold_out`.
    public mutating func snapshotFailed(sku: String, token: UInt64) {
        guard case .snapshotting(let current, _) = self.entries[sku], current == token else { return }
        self.entries[sku] = nil
    }
}
