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
        public var redisURL: String
        public var state: NodeState
        public var weight: Double
        /// False once the node has missed its heartbeat lease; `state` stays what the membership says.
        public var isLive: Bool
        /// SKUs defined on its shard, as of its last heartbeat.
        public var skuCount: Int64

        public init(
            id: String,
            clientURL: String,
            peerAddress: String,
            redisURL: String,
            state: NodeState,
            weight: Double = 1,
            isLive: Bool = true,
            skuCount: Int64 = 0
        ) {
            self.id = id
            self.clientURL = clientURL
            self.peerAddress = peerAddress
            self.redisURL = redisURL
            self.state = state
            self.weight = weight
            self.isLive = isLive
            self.skuCount = skuCount
        }

        /// The same node, as far as the membership goes: heartbeats and counts do not change it.
        func hasSameAddresses(as other: Node) -> Bool {
            self.clientURL == other.clientURL && self.peerAddress == other.peerAddress
                && self.redisURL == other.redisURL && self.weight == other.weight
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

    /// How many of the 4,096 placement slots each owning node holds.
    public func slotCounts() -> [String: Int] {
        var counts: [String: Int] = [:]
        guard let placement = self.placement else { return counts }
        for slot in 0..<Placement.slotCount { counts[placement.owner(ofSlot: slot), default: 0] += 1 }
        return counts
    }

    /// What a node's start does to the membership. A node seen for the first time, or one whose
    /// addresses changed, is a new membership: the epoch rises. A restart at the same addresses
    /// changes nothing, so a node killed and started again does not move SKUs.
    ///
    /// In this version a newcomer is active at once (the SKUs it would take from others are not
    /// handed over yet); `state` says which state a newcomer is recorded in.
    public static func join(_ announced: Node, existing: Node?, state: NodeState = .active) -> JoinDecision {
        guard let existing else {
            var node = announced
            node.state = state
            return .record(node, newEpoch: true)
        }
        var node = announced
        node.state = existing.state == .down ? state : existing.state
        if existing.hasSameAddresses(as: announced), node.state == existing.state {
            return .unchanged
        }
        return .record(node, newEpoch: true)
    }

    public enum JoinDecision: Sendable, Hashable {
        case unchanged
        case record(Node, newEpoch: Bool)
    }
}
