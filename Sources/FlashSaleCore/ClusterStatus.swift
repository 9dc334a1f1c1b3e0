/// What `GET /v1/cluster` shows.
public struct ClusterStatus: Sendable, Hashable {
    public struct Node: Sendable, Hashable {
        public var id: String
        public var clientUrl: String
        public var peerAddress: String
        public var state: String
        public var skuCount: Int64
        /// How many of the 4,096 placement slots the node owns: its share of the ring.
        public var slots: Int64

        public init(id: String, clientUrl: String, peerAddress: String, state: String, skuCount: Int64, slots: Int64) {
            self.id = id
            self.clientUrl = clientUrl
            self.peerAddress = peerAddress
            self.state = state
            self.skuCount = skuCount
            self.slots = slots
        }
    }

    public struct Syncer: Sendable, Hashable {
        public var leader: String?
        public var fencingEpoch: Int64
        public var lagSeconds: Double?

        public init(leader: String?, fencingEpoch: Int64, lagSeconds: Double?) {
            self.leader = leader
            self.fencingEpoch = fencingEpoch
            self.lagSeconds = lagSeconds
        }
    }

    public var epoch: Int64
    public var nodes: [Node]
    public var syncer: Syncer

    public init(epoch: Int64, nodes: [Node], syncer: Syncer) {
        self.epoch = epoch
        self.nodes = nodes
        self.syncer = syncer
    }
}
