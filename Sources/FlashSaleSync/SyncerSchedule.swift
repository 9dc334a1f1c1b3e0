/// When the syncer takes or renews its lease, flushes, re-reads the list of shards and rests, as a
/// pure state machine with time passed in; `Syncer` carries its actions out against Redis and
/// PostgreSQL and, between them, sleeps until `wait`'s instant.
///
/// A leader flushes pass after pass while passes find events, rests `idleDelay` after a pass that
/// found none (the outboxes are polled: nothing rings the syncer when a script appends), and rests
/// `failureDelay` after a pass that failed. It re-reads the registered shards at most every
/// `shardListMaxAge`: a pass runs every few milliseconds under load, and shards join rarely.
public struct SyncerSchedule: Sendable {
    public enum Action: Sendable, Hashable {
        case acquire
        case renew(epoch: Int64)
        /// One pass over the shards under `epoch`; `readShards`: read the shard list first.
        case flush(epoch: Int64, readShards: Bool)
        case wait(until: ContinuousClock.Instant)
    }

    public let idleDelay: Duration
    public let failureDelay: Duration
    public let shardListMaxAge: Duration
    public private(set) var lease: SyncerLease
    private var restUntil: ContinuousClock.Instant?
    private var shardsReadAt: ContinuousClock.Instant?

    /// The lease timings follow the TTL: renew and retry every fifth of it, stop trusting it a
    /// tenth before it can have run out.
    public init(
        leaseTTL ttl: Duration,
        idleDelay: Duration,
        shardListMaxAge: Duration = .seconds(1),
        now: ContinuousClock.Instant
    ) {
        self.lease = SyncerLease(ttl: ttl, renewInterval: ttl / 5, retryInterval: ttl / 5, safetyMargin: ttl / 10, now: now)
        self.idleDelay = idleDelay
        self.failureDelay = ttl / 10
        self.shardListMaxAge = shardListMaxAge
    }

    public mutating func next(now: ContinuousClock.Instant) -> Action {
        switch self.lease.tick(now: now) {
        case .acquire:
            return .acquire
        case .renew(let epoch):
            return .renew(epoch: epoch)
        case .wait(let until):
            return .wait(until: until)
        case .flush(let epoch):
            if let restUntil = self.restUntil, now < restUntil {
                return .wait(until: min(restUntil, self.lease.nextDeadline))
            }
            self.restUntil = nil
            let readShards = self.shardsReadAt.map { now - $0 >= self.shardListMaxAge } ?? true
            return .flush(epoch: epoch, readShards: readShards)
        }
    }

    public mutating func acquired(epoch: Int64, sentAt: ContinuousClock.Instant) {
        self.lease.acquired(epoch: epoch, sentAt: sentAt)
        self.restUntil = nil
    }

    public mutating func acquireFailed(now: ContinuousClock.Instant) { self.lease.acquireFailed(now: now) }
    public mutating func renewed(epoch: Int64, sentAt: ContinuousClock.Instant) { self.lease.renewed(epoch: epoch, sentAt: sentAt) }
    public mutating func renewFailed(now: ContinuousClock.Instant) { self.lease.renewFailed(now: now) }

    /// The record says the lease moved on (fenced): stop flushing at once.
    public mutating func lost(now: ContinuousClock.Instant) { self.lease.lost(now: now) }

    public mutating func shardsRead(now: ContinuousClock.Instant) { self.shardsReadAt = now }

    /// A pass flushed `events`: none means the outboxes are empty, so rest before the next.
    public mutating func flushed(events: Int, now: ContinuousClock.Instant) {
        self.restUntil = events == 0 ? now + self.idleDelay : nil
    }

    /// A pass failed (PostgreSQL unreachable): rest, and read the shard list again next time.
    public mutating func flushFailed(now: ContinuousClock.Instant) {
        self.restUntil = now + self.failureDelay
        self.shardsReadAt = nil
    }
}
