import Synchronization

/// The membership this node routes by, as its membership service last read it: created before the
/// services that read it (the shard's store and the peer links carry its epoch, routing decides by
/// it) and the one that writes it, so none of them needs another to exist first.
public final class MembershipView: Sendable {
    private let membership: Mutex<Membership?>

    public init(_ membership: Membership? = nil) {
        self.membership = Mutex(membership)
    }

    /// Nil until this node has joined.
    public var current: Membership? { self.membership.withLock { $0 } }

    public var epoch: Int64 { self.current?.epoch ?? 0 }

    /// Takes `membership` unless a newer one is known already (reads may finish out of order):
    /// the epoch it replaced (0 for none), or nil when it was older and not taken.
    public func publish(_ membership: Membership) -> Int64? {
        self.membership.withLock { current in
            if let current, current.epoch > membership.epoch { return nil }
            defer { current = membership }
            return current?.epoch ?? 0
        }
    }
}
