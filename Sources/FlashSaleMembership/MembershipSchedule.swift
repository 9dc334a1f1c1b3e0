/// When the membership service joins, reads and heartbeats, as a pure state machine with time
/// passed in; `MembershipService` carries its actions out against PostgreSQL.
///
/// A node reads the membership when a peer tells of a newer epoch than the one it knows (at most
/// every `readSpacing`, so a peer that keeps saying so while PostgreSQL is slow does not turn into
/// a read loop), and heartbeats on schedule or at once when its handoffs are done, so that a change
/// settles without waiting for the next beat. Between actions the runner waits until `wait`'s
/// instant or until something is reported here, whichever comes first.
public struct MembershipSchedule: Sendable {
    public enum Action: Sendable, Hashable {
        case join
        case read
        case heartbeat
        case wait(until: ContinuousClock.Instant)
    }

    /// Why a join attempt failed: another change holds the membership (retry soon), or PostgreSQL
    /// could not be reached (retry with a growing delay).
    public enum JoinFailure: Sendable, Hashable {
        case changeInProgress
        case unreachable
    }

    private enum Phase: Sendable, Hashable {
        case joining(retryAt: ContinuousClock.Instant, delay: Duration)
        case member(nextHeartbeat: ContinuousClock.Instant)
    }

    public let heartbeatInterval: Duration
    public let readSpacing: Duration
    public static let changeInProgressRetry = Duration.milliseconds(200)
    public static let firstJoinRetry = Duration.milliseconds(100)
    public static let longestJoinRetry = Duration.seconds(2)

    private var phase: Phase
    /// The newest epoch a peer has told of.
    private var heardEpoch: Int64 = 0
    private var heartbeatNow = false
    private var lastRead: ContinuousClock.Instant?

    public init(heartbeatInterval: Duration, readSpacing: Duration = .milliseconds(50), now: ContinuousClock.Instant) {
        self.heartbeatInterval = heartbeatInterval
        self.readSpacing = readSpacing
        self.phase = .joining(retryAt: now, delay: Self.firstJoinRetry)
    }

    /// A peer knows `epoch`. True when it is newer than `knownEpoch`, this node's own: the runner
    /// should then look at once rather than at its next deadline.
    public mutating func heard(epoch: Int64, knownEpoch: Int64) -> Bool {
        let raised = epoch > self.heardEpoch
        self.heardEpoch = max(self.heardEpoch, epoch)
        return raised && epoch > knownEpoch
    }

    /// This node's handoffs are done: heartbeat at once (once joined) to report it.
    public mutating func handoffsDone() {
        self.heartbeatNow = true
    }

    /// Joined: heartbeat at once, which reports this node's handoffs and adopts gone nodes' shards.
    public mutating func joined(now: ContinuousClock.Instant) {
        self.phase = .member(nextHeartbeat: now)
    }

    public mutating func joinFailed(_ failure: JoinFailure, now: ContinuousClock.Instant) {
        guard case .joining(_, let delay) = self.phase else { return }
        switch failure {
        case .changeInProgress:
            self.phase = .joining(retryAt: now + Self.changeInProgressRetry, delay: delay)
        case .unreachable:
            self.phase = .joining(retryAt: now + delay, delay: min(delay * 2, Self.longestJoinRetry))
        }
    }

    /// The next thing to do, given the epoch this node knows now.
    public mutating func next(now: ContinuousClock.Instant, knownEpoch: Int64) -> Action {
        switch self.phase {
        case .joining(let retryAt, _):
            return now >= retryAt ? .join : .wait(until: retryAt)
        case .member(let nextHeartbeat):
            var deadline = nextHeartbeat
            if self.heardEpoch > knownEpoch {
                let readAt = self.lastRead.map { $0 + self.readSpacing } ?? now
                if now >= readAt {
                    self.lastRead = now
                    return .read
                }
                deadline = min(deadline, readAt)
            }
            if self.heartbeatNow || now >= nextHeartbeat {
                self.heartbeatNow = false
                self.phase = .member(nextHeartbeat: now + self.heartbeatInterval)
                return .heartbeat
            }
            return .wait(until: deadline)
        }
    }
}
