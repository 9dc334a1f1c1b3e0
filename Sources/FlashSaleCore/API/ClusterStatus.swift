/// What `GET /v1/cluster` shows.
/// Decodable too: operators' tools read it back from the API's JSON (`flashsale admin`).
public struct ClusterStatus: Sendable, Hashable, Decodable {
    public struct Node: Sendable, Hashable, Decodable {
        public var id: String
        public var clientUrl: String
        public var peerAddress: String
        public var state: String
        public var skuCount: Int64
        /// How many of the 4,096 placement slots the node owns: its share of the ring.
        public var slots: Int64
        /// The node's handoffs as it last reported them; nil when it has reported none under this epoch.
        public var handoff: Handoff?
        /// The live node serving this node's shard while it is gone.
        public var adoptedBy: String?

        public init(
            id: String,
            clientUrl: String,
            peerAddress: String,
            state: String,
            skuCount: Int64,
            slots: Int64,
            handoff: Handoff? = nil,
            adoptedBy: String? = nil
        ) {
            self.id = id
            self.clientUrl = clientUrl
            self.peerAddress = peerAddress
            self.state = state
            self.skuCount = skuCount
            self.slots = slots
            self.handoff = handoff
            self.adoptedBy = adoptedBy
        }
    }

    /// SKUs one node must hand to others under the current epoch.
    public struct Handoff: Sendable, Hashable, Decodable {
        public var toMove: Int64
        public var moved: Int64
        public var failedAttempts: Int64
        public var finished: Bool

        public init(toMove: Int64, moved: Int64, failedAttempts: Int64, finished: Bool) {
            self.toMove = toMove
            self.moved = moved
            self.failedAttempts = failedAttempts
            self.finished = finished
        }
    }

    public struct Syncer: Sendable, Hashable, Decodable {
        public var leader: String?
        public var fencingEpoch: Int64
        public var lagSeconds: Double?

        public init(leader: String?, fencingEpoch: Int64, lagSeconds: Double?) {
            self.leader = leader
            self.fencingEpoch = fencingEpoch
            self.lagSeconds = lagSeconds
        }
    }

    /// A node that owns SKUs under the epoch, with its share of the ring: what a client needs to
    /// compute each SKU's owner itself (`Placement`) and send its calls straight there.
    public struct PlacementMember: Sendable, Hashable, Decodable {
        public var id: String
        public var weight: Double

        public init(id: String, weight: Double) {
            self.id = id
            self.weight = weight
        }
    }

    public var epoch: Int64
    /// True while a node joins or leaves and SKUs move.
    public var rebalancing: Bool
    public var nodes: [Node]
    /// The members of the epoch's placement (the joining and active nodes, live or not).
    public var placement: [PlacementMember]
    public var syncer: Syncer

    public init(epoch: Int64, rebalancing: Bool = false, nodes: [Node], placement: [PlacementMember] = [], syncer: Syncer) {
        self.epoch = epoch
        self.rebalancing = rebalancing
        self.nodes = nodes
        self.placement = placement
        self.syncer = syncer
    }
}

/// `POST /v1/cluster/nodes`: a node an operator adds.
public struct NodeRegistration: Sendable, Hashable {
    public var id: String
    public var clientUrl: String
    public var peerAddress: String
    public var redisUrl: String
    /// The shard's replica, when it has one.
    public var redisReplicaUrl: String?
    public var weight: Double

    public init(id: String, clientUrl: String, peerAddress: String, redisUrl: String, redisReplicaUrl: String? = nil, weight: Double = 1) {
        self.id = id
        self.clientUrl = clientUrl
        self.peerAddress = peerAddress
        self.redisUrl = redisUrl
        self.redisReplicaUrl = redisReplicaUrl
        self.weight = weight
    }
}

/// Why a membership change was not made.
public enum ClusterChangeError: Error, Sendable, Hashable {
    /// Another node is joining or leaving: one change at a time.
    case inProgress(String)
    /// Never possible (the last active node).
    case refused(String)
    /// No such node (404).
    case unknownNode(String)
    case unavailable(String)
}
