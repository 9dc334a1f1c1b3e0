public import FlashSaleCluster
public import FlashSaleCore

/// Which node serves which SKU under one membership epoch, computed on the client from
/// `GET /v1/cluster` with the same placement the nodes use, so that a call goes straight to the
/// owner instead of costing a forwarding hop. Pure: the client refreshes it when an answer names a
/// newer epoch.
public struct OwnerDirectory: Sendable, Hashable {
    public let epoch: Int64
    private let placement: Placement?
    /// Node id -> the client URL of the node that serves its SKUs now: itself while it is up, the
    /// node that adopted its shard while it is down, none while nobody serves them.
    private let servingURL: [String: String]
    /// The client URLs of the nodes that are up, for calls that any node answers.
    public let liveNodeURLs: [String]

    public init(_ status: ClusterStatus) {
        self.epoch = status.epoch
        self.placement = status.placement.isEmpty ? nil : Placement(epoch: status.epoch, members: status.placement.map { .init(id: $0.id, weight: $0.weight) })
        let live = status.nodes.filter { $0.state != Membership.NodeState.down.rawValue }
        let liveURL = Dictionary(live.map { ($0.id, $0.clientUrl) }, uniquingKeysWith: { first, _ in first })
        var serving: [String: String] = [:]
        for node in status.nodes {
            if let url = liveURL[node.id] {
                serving[node.id] = url
            } else if let adopter = node.adoptedBy, let url = liveURL[adopter] {
                serving[node.id] = url
            }
        }
        self.servingURL = serving
        self.liveNodeURLs = live.map(\.clientUrl)
    }

    /// The client URL to send a call for `target` to; nil when the directory cannot tell (no
    /// placement, or the owner is down and not adopted yet): any node will forward it.
    /// `buckets` is the SKU's number of buckets when the client knows it.
    public func nodeURL(for target: CallTarget, buckets: Int64?) -> String? {
        guard let placement else { return nil }
        let name: String
        switch target {
        case .anyNode:
            return nil
        case .node(let url):
            return url
        case .sku(let sku):
            name = sku
        case .userReservation(let sku, let user):
            if let buckets, buckets > 1 {
                name = SKUBuckets.name(of: sku, bucket: SKUBuckets.bucket(of: user, buckets: buckets))
            } else {
                name = sku
            }
        case .reservation(let sku, let id):
            if let bucket = SKUBuckets.bucket(ofReservation: id), bucket < SKUBuckets.maximum {
                name = SKUBuckets.name(of: sku, bucket: bucket)
            } else {
                name = sku
            }
        }
        return self.servingURL[placement.owner(of: name)]
    }
}
