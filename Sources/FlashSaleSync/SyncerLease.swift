/// The syncer's leadership as a pure state machine, with time passed in.
///
/// The lease itself is one row in PostgreSQL (holder, fencing epoch, expiry by PostgreSQL's clock).
/// This machine decides when to try to take it, when to renew it and when to stop trusting it;
/// safety does not rest on it: every flush transaction re-checks holder, epoch and expiry under a
/// row lock, so a deposed leader's flush fails whatever this machine believes.
public struct SyncerLease: Sendable {
    public enum Action: Sendable, Hashable {
        /// Try to take the lease (a new, higher fencing epoch on success).
        case acquire
        /// Extend the lease held at this epoch.
        case renew(epoch: Int64)
        /// Lead: flush outboxes under this epoch.
        case flush(epoch: Int64)
        /// Not leading; nothing to do until this instant (the next attempt to take the lease).
        case wait(until: ContinuousClock.Instant)
    }

    private enum State: Sendable, Hashable {
        case follower(nextAttempt: ContinuousClock.Instant)
        /// `trustedUntil`: the lease expiry as seen from here, counted from when the request that
        /// set it was sent (so never later than PostgreSQL's own expiry), minus a margin.
        case leader(epoch: Int64, trustedUntil: ContinuousClock.Instant, renewAt: ContinuousClock.Instant)
    }

    public let ttl: Duration
    public let renewInterval: Duration
    public let retryInterval: Duration
    /// Stop flushing this long before the lease may have run out, for clock-rate differences.
    public let safetyMargin: Duration
    private var state: State

    public init(ttl: Duration, renewInterval: Duration, retryInterval: Duration, safetyMargin: Duration, now: ContinuousClock.Instant) {
        precondition(renewInterval + safetyMargin < ttl, "the lease must be renewed well before it expires")
        self.ttl = ttl
        self.renewInterval = renewInterval
        self.retryInterval = retryInterval
        self.safetyMargin = safetyMargin
        self.state = .follower(nextAttempt: now)
    }

    public var leaderEpoch: Int64? {
        if case .leader(let epoch, _, _) = self.state { return epoch }
        return nil
    }

    /// When a leader must next renew, or a follower next try: a leader's flushes pause no later.
    public var nextDeadline: ContinuousClock.Instant {
        switch self.state {
        case .follower(let nextAttempt): return nextAttempt
        case .leader(_, _, let renewAt): return renewAt
        }
    }

    public mutating func tick(now: ContinuousClock.Instant) -> Action {
        switch self.state {
        case .follower(let nextAttempt):
            return now >= nextAttempt ? .acquire : .wait(until: nextAttempt)
        case .leader(let epoch, let trustedUntil, let renewAt):
            if now >= trustedUntil {
                // Renewals kept failing (PostgreSQL unreachable): someone else may lead by now.
                self.state = .follower(nextAttempt: now)
                return .acquire
            }
            return now >= renewAt ? .renew(epoch: epoch) : .flush(epoch: epoch)
        }
    }

    /// The lease was taken at `epoch` by a request sent at `sentAt`.
    public mutating func acquired(epoch: Int64, sentAt: ContinuousClock.Instant) {
        self.state = .leader(
            epoch: epoch,
            trustedUntil: sentAt + self.ttl - self.safetyMargin,
            renewAt: sentAt + self.renewInterval
        )
    }

    /// Someone else holds a live lease, or PostgreSQL could not be asked.
    public mutating func acquireFailed(now: ContinuousClock.Instant) {
        self.state = .follower(nextAttempt: now + self.retryInterval)
    }

    /// The lease at `epoch` was extended by a request sent at `sentAt`.
    public mutating func renewed(epoch: Int64, sentAt: ContinuousClock.Instant) {
        guard case .leader(let current, _, _) = self.state, current == epoch else { return }
        self.acquired(epoch: epoch, sentAt: sentAt)
    }

    /// PostgreSQL answered that the lease at this epoch is no longer ours (expired and taken, or
    /// fenced by a newer epoch): stop leading at once.
    public mutating func lost(now: ContinuousClock.Instant) {
        self.state = .follower(nextAttempt: now + self.retryInterval)
    }

    /// A renewal could not reach PostgreSQL: keep leading until `trustedUntil`, retry soon.
    public mutating func renewFailed(now: ContinuousClock.Instant) {
        guard case .leader(let epoch, let trustedUntil, _) = self.state else { return }
        self.state = .leader(epoch: epoch, trustedUntil: trustedUntil, renewAt: now + self.retryInterval)
    }
}
