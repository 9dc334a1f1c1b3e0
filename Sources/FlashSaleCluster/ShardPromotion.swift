/// Which of a shard's two Redis servers is its primary, decided without I/O from what each one
/// answers when probed (`ROLE` and the shard's generation), with time passed in; `ShardGuardian`
/// probes and carries the actions out.
///
/// The primary is the server answering as a primary with the highest generation. When no server
/// has answered as a primary for `failoverAfter`, a replica is promoted under the next generation.
/// A server answering as a primary under a lower generation (an old primary that was paused or
/// cut off, coming back) is made a replica of the primary at once: it never serves as a second
/// primary, and since it has no replica of its own, nothing written to it before that can have
/// been acknowledged (every acknowledgement waits for a replica).
public struct ShardPromotion: Sendable, Hashable {
    /// What a probe of one server found.
    public enum Observed: Sendable, Hashable {
        case primary(generation: Int64)
        /// With the generation of the primary it last copied.
        case replica(generation: Int64)
        case unreachable
    }

    public enum Action: Sendable, Hashable {
        /// Make `url` the primary (`REPLICAOF NO ONE`) and record `generation` in it.
        case promote(url: String, generation: Int64)
        /// Make `url` a replica of `primary` (`REPLICAOF`): it drops what it has and copies the primary.
        case demote(url: String, primary: String)
    }

    public let servers: [String]
    public let failoverAfter: Duration
    /// The server writes go to, once one has been seen as the primary.
    public private(set) var primary: String?
    /// The primary's generation as last seen.
    public private(set) var generation: Int64 = 0
    /// Since when no server has answered as a primary (nil while one does).
    private var primaryMissingSince: ContinuousClock.Instant?

    public init(servers: [String], failoverAfter: Duration) {
        precondition(servers.count == 2 && servers[0] != servers[1], "a shard is a primary and one replica")
        self.servers = servers
        self.failoverAfter = failoverAfter
    }

    /// Takes one probe of every server (missing ones count as unreachable); answers what to do.
    public mutating func observe(_ probe: [String: Observed], now: ContinuousClock.Instant) -> [Action] {
        var primaries: [(url: String, generation: Int64)] = []
        var replicas: [(url: String, generation: Int64)] = []
        for url in self.servers {
            switch probe[url] ?? .unreachable {
            case .primary(let generation): primaries.append((url, generation))
            case .replica(let generation): replicas.append((url, generation))
            case .unreachable: break
            }
        }
        // A replica keeps the generation of the primary it copied. A primary below it started over
        // (a server emptied and restarted on its own): it holds none of the shard's history, and
        // never becomes the primary, whatever this machine saw before.
        let replicaTop = replicas.map(\.generation).max() ?? 0
        let eligible = primaries.filter { $0.generation >= replicaTop || $0.url == self.primary }
        if let top = eligible.map(\.generation).max() {
            self.primaryMissingSince = nil
            let leaders = eligible.filter { $0.generation == top }
            if top > self.generation || (top == self.generation && self.primary == nil) {
                // Two primaries of one generation with none chosen before: which has the
                // acknowledged writes cannot be told from here, so neither is made to follow.
                guard leaders.count == 1 else { return [] }
                self.primary = leaders[0].url
                self.generation = top
            }
            guard let primary = self.primary else { return [] }
            var actions: [Action] = []
            // A promotion whose generation did not get written: write it again.
            if let current = primaries.first(where: { $0.url == primary }), current.generation < self.generation {
                actions.append(.promote(url: primary, generation: self.generation))
            }
            // Every other server that answers as a primary is older: it follows the primary.
            return actions + primaries.filter { $0.url != primary }.map { .demote(url: $0.url, primary: primary) }
        }
        let since = self.primaryMissingSince ?? now
        self.primaryMissingSince = since
        // The replica with the most history (the first on a tie) is the one promoted.
        guard now - since >= self.failoverAfter, let candidate = replicas.max(by: { $0.generation < $1.generation }) else {
            return []
        }
        // Promoted under a generation no server has had: an old primary, if it comes back, is older.
        self.generation = max(self.generation, replicaTop, primaries.map(\.generation).max() ?? 0) + 1
        self.primary = candidate.url
        self.primaryMissingSince = nil
        return [.promote(url: candidate.url, generation: self.generation)]
    }

    /// The primary and the other server, its replica, as this machine has them (nil before a
    /// primary was found).
    public var decided: ShardServers? {
        self.primary.map { primary in ShardServers(primary: primary, replica: self.servers.first { $0 != primary }) }
    }
}

/// A shard's Redis servers: the one written to, and the one that copies it.
public struct ShardServers: Sendable, Hashable {
    public var primary: String
    public var replica: String?

    public init(primary: String, replica: String?) {
        self.primary = primary
        self.replica = replica
    }
}
