/// Where a reservation stands. `reserved` holds stock; the other three are final.
public enum ReservationStatus: String, Sendable, Hashable, CaseIterable {
    case reserved
    case committed
    case released
    case expired
}

/// What a caller asks of an existing reservation.
public enum ReservationCommand: String, Sendable, Hashable, CaseIterable {
    case commit
    case release
    /// Expire the reservation if its time is up; otherwise leave it. Reads and the sweeper send this.
    case expireIfDue
    /// The first half of a cart's commit: the reservation stays reserved but no longer expires and
    /// can no longer be released, so that once every item of a cart is prepared, committing each
    /// cannot fail (issue 17). Only a cart's coordinator sends it.
    case prepareCommit
    /// A cart's own release of its item: a `release` that also releases a reservation prepared for
    /// the cart's commit (a commit that cannot finish, as another item expired or was released).
    /// Only the cart's coordinator sends it.
    case cartRelease
}

/// Why a command on a reservation was refused.
public enum ReservationRefusal: String, Sendable, Hashable, CaseIterable {
    /// Its time ran out before the command: commit after expiry is never allowed (I7).
    case expired
    /// It was released, so it can no longer be committed.
    case released
    /// It was committed, so it can no longer be released.
    case committed
}

/// What the owner of a reservation must do in answer to a command.
public enum ReservationAction: Sendable, Hashable {
    /// Nothing changes (a repeated commit or release, or an expiry check that is not due).
    case unchanged
    /// Move to a new status. Moving to `released` or `expired` returns the quantity to stock.
    case transition(to: ReservationStatus)
    /// Stay reserved, prepared for a commit: no longer due, and no longer released by a `release`.
    case prepareCommit
    /// Refuse the command. `expiringNow` says the reservation's time ran out before this call noticed:
    /// it must first be marked expired and its stock returned, then the refusal answered.
    case refuse(ReservationRefusal, expiringNow: Bool)
}

/// The reservation lifecycle as a pure state machine: reserved -> committed | released | expired,
/// each reservation resolved at most once (I7). Time is passed in, so expiry is tested without sleeping.
///
/// The Redis scripts (`Scripts/prelude.lua`, `decide`) carry out the same table atomically; a test drives
/// both through every status and command and compares them.
public struct ReservationLifecycle: Sendable, Hashable {
    public private(set) var status: ReservationStatus
    public let expiresAtMilliseconds: Int64
    /// A reserved reservation a cart prepared to commit: it waits for the cart's commit (or abort),
    /// however long that takes, and a buyer's own release is refused as `committed`, which it will be.
    public private(set) var isCommitPrepared: Bool

    public init(status: ReservationStatus, expiresAtMilliseconds: Int64, isCommitPrepared: Bool = false) {
        precondition(!isCommitPrepared || status == .reserved, "only a reserved reservation is prepared")
        self.status = status
        self.expiresAtMilliseconds = expiresAtMilliseconds
        self.isCommitPrepared = isCommitPrepared
    }

    /// A reservation is due once the clock reaches its expiry instant, unless a commit was prepared.
    public func isDue(nowMilliseconds: Int64) -> Bool {
        self.status == .reserved && !self.isCommitPrepared && nowMilliseconds >= self.expiresAtMilliseconds
    }

    public mutating func handle(_ command: ReservationCommand, nowMilliseconds: Int64) -> ReservationAction {
        let due = self.isDue(nowMilliseconds: nowMilliseconds)
        let action: ReservationAction
        switch (self.status, command) {
        case (.reserved, .commit):
            action = due ? .refuse(.expired, expiringNow: true) : .transition(to: .committed)
        case (.reserved, .release):
            action =
                self.isCommitPrepared
                ? .refuse(.committed, expiringNow: false) : due ? .refuse(.expired, expiringNow: true) : .transition(to: .released)
        case (.reserved, .cartRelease):
            action = due ? .refuse(.expired, expiringNow: true) : .transition(to: .released)
        case (.reserved, .prepareCommit):
            action = due ? .refuse(.expired, expiringNow: true) : self.isCommitPrepared ? .unchanged : .prepareCommit
        case (.reserved, .expireIfDue):
            action = due ? .transition(to: .expired) : .unchanged
        case (.committed, .commit), (.committed, .expireIfDue), (.committed, .prepareCommit):
            action = .unchanged
        case (.committed, .release), (.committed, .cartRelease):
            action = .refuse(.committed, expiringNow: false)
        case (.released, .release), (.released, .expireIfDue), (.released, .cartRelease):
            action = .unchanged
        case (.released, .commit), (.released, .prepareCommit):
            action = .refuse(.released, expiringNow: false)
        case (.expired, .expireIfDue):
            action = .unchanged
        case (.expired, .commit), (.expired, .release), (.expired, .prepareCommit), (.expired, .cartRelease):
            action = .refuse(.expired, expiringNow: false)
        }
        switch action {
        case .transition(let next):
            self.status = next
            self.isCommitPrepared = false
        case .prepareCommit:
            self.isCommitPrepared = true
        case .refuse(_, expiringNow: true):
            self.status = .expired
        case .unchanged, .refuse(_, expiringNow: false):
            break
        }
        return action
    }
}
