/// The cluster's members under one epoch, as PostgreSQL records them, and who owns which SKU under
/// it. Pure: the membership service reads it from PostgreSQL and routing asks it questions.
public struct Membership: Sendable, Hashable {
    public enum NodeState: String, Sendable, Hashable, CaseIterable {
        /// Owns the SKUs the placement gives it; they are being handed to it by their previous owners.
        case joining
        /// Owns the SKUs that placement gives it.
        case active
        /// Owns nothing any more; hands the SKUs it still holds to their new owners, then goes.
        case leaving
        /// Gone; owns nothing.
        case down
    }

    public struct Node: Sendable, Hashable {
        public var id: String
        public var clientURL: String
        public var peerAddress: String
        /// Its shard's primary, as the node (or its adopter) last found it.
        public var redisURL: String
        /// Its shard's replica, promoted when the primary is gone; nil for a shard without one.
        public var replicaURL: String?
        public var state: NodeState
        public var weight: Double
        /// False once the node has missed its heartbeat lease; `state` stays what the membership says.
        public var isLive: Bool
        /// SKUs defined on its shard, as of its last heartbeat.
        public var skuCount: Int64
        /// What the node last reported of its handoffs.
        public var handoff: HandoffReport
        /// While the node is gone (its lease expired), the live node that serves its SKUs from its
        /// Redis shard; nil while the node serves them itself.
        public var adoptedBy: String?
        /// True once the node has held a heartbeat lease. A node an operator added but has not
        /// started yet has not: its shard may not exist, so it is not adopted.
        public var hasRun: Bool

        public init(
            id: String,
            clientURL: String,
            peerAddress: String,
            redisURL: String,
            replicaURL: String? = nil,
            state: NodeState,
            weight: Double = 1,
            isLive: Bool = true,
            skuCount: Int64 = 0,
            handoff: HandoffReport = .init(epoch: 0),
            adoptedBy: String? = nil,
            hasRun: Bool = true
        ) {
            self.id = id
            self.clientURL = clientURL
            self.peerAddress = peerAddress
            self.redisURL = redisURL
            self.replicaURL = replicaURL
            self.state = state
            self.weight = weight
            self.isLive = isLive
            self.skuCount = skuCount
            self.handoff = handoff
            self.adoptedBy = adoptedBy
            self.hasRun = hasRun
        }

        /// The shard's servers, whichever is the primary now.
        public var shardServers: Set<String> {
            Set([self.redisURL] + (self.replicaURL.map { [$0] } ?? []))
        }

        /// The same node, as far as the membership goes: heartbeats and counts do not change it,
        /// nor does a promotion (the same two servers, the other one primary).
        func hasSameAddresses(as other: Node) -> Bool {
            self.clientURL == other.clientURL && self.peerAddress == other.peerAddress
                && self.shardServers == other.shardServers && self.weight == other.weight
        }
    }

    /// A node's handoffs under one epoch: the SKUs its shard held that another node owns now.
    public struct HandoffReport: Sendable, Hashable {
        public var epoch: Int64
        public var toMove: Int64
        public var moved: Int64
        public var failedAttempts: Int64
        /// Every move is made and a last look at the shard found nothing more to move.
        public var isFinished: Bool

        public init(epoch: Int64, toMove: Int64 = 0, moved: Int64 = 0, failedAttempts: Int64 = 0, isFinished: Bool = false) {
            self.epoch = epoch
            self.toMove = toMove
            self.moved = moved
            self.failedAttempts = failedAttempts
            self.isFinished = isFinished
        }

        /// Every SKU that had to leave the node under `epoch` has reached its new owner.
        public func isDone(at epoch: Int64) -> Bool {
            self.epoch == epoch && self.isFinished
        }
    }

    public let epoch: Int64
    /// Sorted by id.
    public let nodes: [Node]
    /// Over the nodes that own SKUs under this epoch (active and joining ones); nil when there are none.
    public let placement: Placement?
    /// While SKUs move (a node joins or leaves), the placement they move from: over the active and
    /// leaving nodes, the owners before the change. Nil when nothing moves.
    public let previousPlacement: Placement?

    public init(epoch: Int64, nodes: [Node]) {
        self.epoch = epoch
        self.nodes = nodes.sorted { $0.id < $1.id }
        self.placement = Self.placement(epoch: epoch, over: self.nodes.filter { $0.state == .active || $0.state == .joining })
        self.previousPlacement =
            Self.movesSKUs(self.nodes)
            ? Self.placement(epoch: epoch, over: self.nodes.filter { $0.state == .active || $0.state == .leaving }) : nil
    }

    private static func movesSKUs(_ nodes: [Node]) -> Bool {
        nodes.contains { $0.state == .joining || $0.state == .leaving }
    }

    private static func placement(epoch: Int64, over owners: [Node]) -> Placement? {
        owners.isEmpty ? nil : Placement(epoch: epoch, members: owners.map { .init(id: $0.id, weight: $0.weight) })
    }

    /// True while some node joins or leaves: SKUs move from `previousPlacement` to `placement`.
    public var isRebalancing: Bool { Self.movesSKUs(self.nodes) }

    public func node(_ id: String) -> Node? {
        self.nodes.first { $0.id == id }
    }

    /// The node that owns `sku` under this epoch; nil while no node owns anything.
    public func owner(of sku: String) -> Node? {
        self.placement.flatMap { self.node($0.owner(of: sku)) }
    }

    /// While SKUs move, the node that held `sku` before the change, when it is not its owner now: the
    /// owner asks it for a SKU that has not reached it yet. Nil when nothing moves, or `sku` stays.
    public func previousOwner(of sku: String) -> Node? {
        guard let previous = self.previousPlacement?.owner(of: sku), previous != self.placement?.owner(of: sku) else { return nil }
        return self.node(previous)
    }

    /// The node that runs calls on `owner`'s shard: `owner` itself, or the node that adopted its
    /// shard while it is gone.
    public func server(of owner: Node) -> Node {
        owner.adoptedBy.flatMap { self.node($0) } ?? owner
    }

    /// The shards `adopter` should adopt now: those of nodes that own SKUs (active or leaving, or
    /// joining once they have run: a joiner that dies mid-join would otherwise hold the change up
    /// until it returns), whose lease has expired, and that no live active node serves (an adopter
    /// that is itself gone, or leaving, hands the shard on). Each goes to one survivor, the live
    /// active node with the lowest id, so that two survivors never race for the same shard.
    public func shardsToAdopt(by adopter: String) -> [Node] {
        let live = self.nodes.filter { $0.isLive && $0.state == .active }
        guard live.first?.id == adopter else { return [] }
        return self.nodes.filter { node in
            let owns = node.state == .active || node.state == .leaving || (node.state == .joining && node.hasRun)
            guard owns, !node.isLive else { return false }
            guard let current = node.adoptedBy.flatMap({ self.node($0) }) else { return true }
            return current.id != adopter && !(current.isLive && current.state == .active)
        }
    }

    /// How many of the 4,096 placement slots each owning node holds.
    public func slotCounts() -> [String: Int] {
        var counts: [String: Int] = [:]
        guard let placement = self.placement else { return counts }
        for slot in 0..<Placement.slotCount { counts[placement.owner(ofSlot: slot), default: 0] += 1 }
        return counts
    }

    /// What a node's start (or an operator's `POST /v1/cluster/nodes`) does to the membership. A
    /// node seen for the first time, or one that was down, joins under a new epoch: `joining` when
    /// active nodes exist (their SKUs move to it), else `active`. It waits while another change is
    /// in progress: changes go one at a time, so a SKU can never be created on two joiners. A
    /// restart at the same addresses changes nothing, so a node killed and started again moves no SKUs.
    public func join(_ announced: Node) -> Change {
        let existing = self.node(announced.id)
        var node = announced
        guard let existing, existing.state != .down else {
            guard !self.isRebalancing else { return .wait("nodes are joining or leaving; one change at a time") }
            let othersActive = self.nodes.contains { $0.id != announced.id && $0.state == .active }
            node.state = othersActive ? .joining : .active
            return .record([node])
        }
        node.state = existing.state
        node.handoff = existing.handoff
        return existing.hasSameAddresses(as: announced) ? .unchanged : .record([node])
    }

    /// What `DELETE /v1/cluster/nodes/{id}` does: the node becomes `leaving` under a new epoch, its
    /// SKUs move to the others, and then it is `down`.
    public func leave(_ id: String) -> Change {
        guard var node = self.node(id) else { return .unknown("\(id) is not a member") }
        switch node.state {
        case .leaving, .down:
            return .unchanged
        case .joining:
            return .wait("\(id) is still joining; one change at a time")
        case .active:
            guard !self.isRebalancing else { return .wait("nodes are joining or leaving; one change at a time") }
            guard self.nodes.contains(where: { $0.id != id && $0.state == .active }) else {
                return .refuse("\(id) is the last active node")
            }
            node.state = .leaving
            return .record([node])
        }
    }

    /// When every node that is not down has reported its handoffs for this epoch done, the change
    /// is over: joiners become active and leavers down, under a new epoch. Nil otherwise.
    public func settle() -> [Node]? {
        guard self.isRebalancing else { return nil }
        let members = self.nodes.filter { $0.state != .down }
        guard members.allSatisfy({ $0.handoff.isDone(at: self.epoch) }) else { return nil }
        return members.compactMap { node in
            var settled = node
            switch node.state {
            case .joining: settled.state = .active
            case .leaving:
                // Gone for good: a survivor that served its shard while it handed over lets go of it.
                settled.state = .down
                settled.adoptedBy = nil
            case .active, .down: return nil
            }
            return settled
        }
    }

    public enum Change: Sendable, Hashable {
        case unchanged
        /// Write these nodes under a new epoch.
        case record([Node])
        /// Not now; try again when the change in progress is over.
        case wait(String)
        /// Never (the last active node).
        case refuse(String)
        /// No such node.
        case unknown(String)
    }
}
