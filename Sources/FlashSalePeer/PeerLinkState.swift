/// The connection to one peer as a machine without I/O: at most one connection or attempt at a
/// time, shared by every caller; after a failed attempt no new one until its backoff has passed,
/// the backoff doubling up to a maximum; a connection that closes may be replaced at once.
/// `Attempt` is whatever the shell waits on while connecting (a future); time is passed in.
struct PeerLinkState<Connection: Equatable, Attempt> {
    enum Phase {
        case idle(backoff: Duration, retryAt: ContinuousClock.Instant?)
        /// `backoff`: how long to wait before the next attempt if this one fails.
        case connecting(Attempt, backoff: Duration)
        case connected(Connection)
    }

    /// What a caller who wants the connection is to do.
    enum Action {
        case use(Connection)
        case wait(for: Attempt)
        /// Start an attempt and report it with `attemptStarted`.
        case connect
        case backingOff(until: ContinuousClock.Instant)
    }

    private(set) var phase: Phase
    let initialBackoff: Duration
    let maximumBackoff: Duration

    init(initialBackoff: Duration, maximumBackoff: Duration) {
        self.phase = .idle(backoff: initialBackoff, retryAt: nil)
        self.initialBackoff = initialBackoff
        self.maximumBackoff = maximumBackoff
    }

    mutating func connectionWanted(now: ContinuousClock.Instant) -> Action {
        switch self.phase {
        case .connected(let connection): .use(connection)
        case .connecting(let attempt, _): .wait(for: attempt)
        case .idle(_, let retryAt?) where now < retryAt: .backingOff(until: retryAt)
        case .idle: .connect
        }
    }

    mutating func attemptStarted(_ attempt: Attempt) {
        guard case .idle(let backoff, _) = self.phase else {
            preconditionFailure("an attempt started while the link was not idle")
        }
        self.phase = .connecting(attempt, backoff: backoff)
    }

    mutating func attemptSucceeded(_ connection: Connection) {
        self.phase = .connected(connection)
    }

    mutating func attemptFailed(now: ContinuousClock.Instant) {
        let backoff: Duration
        if case .connecting(_, let next) = self.phase { backoff = next } else { backoff = self.initialBackoff }
        self.phase = .idle(backoff: min(backoff * 2, self.maximumBackoff), retryAt: now + backoff)
    }

    /// A connection closed; only the current one's closing makes the link idle again.
    mutating func closed(_ connection: Connection) {
        if case .connected(let current) = self.phase, current == connection {
            self.phase = .idle(backoff: self.initialBackoff, retryAt: nil)
        }
    }

    var connection: Connection? {
        if case .connected(let connection) = self.phase { return connection }
        return nil
    }
}
