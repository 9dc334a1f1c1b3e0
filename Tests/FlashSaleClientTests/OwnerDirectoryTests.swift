import FlashSaleClient
import FlashSaleCluster
import FlashSaleCore
import Testing

/// The client computes owners as the nodes do, and sends a gone node's SKUs to its adopter.
struct OwnerDirectoryTests {
    static func status(epoch: Int64 = 7, down: Set<String> = [], adoptedBy: [String: String] = [:], weights: [String: Double] = [:]) -> ClusterStatus {
        let ids = ["n1", "n2", "n3"]
        return ClusterStatus(
            epoch: epoch,
            nodes: ids.map { id in
                .init(
                    id: id, clientUrl: "http://127.0.0.1:80\(id.dropFirst())", peerAddress: "127.0.0.1:90\(id.dropFirst())",
                    state: down.contains(id) ? "down" : "active", skuCount: 0, slots: 0, adoptedBy: adoptedBy[id]
                )
            },
            placement: ids.map { .init(id: $0, weight: weights[$0] ?? 1) },
            syncer: .init(leader: nil, fencingEpoch: 0, lagSeconds: nil)
        )
    }

    static let skus = (0..<200).map { "sku-\($0)" }

    @Test func everySKUGoesToTheNodeThePlacementGivesIt() {
        let directory = OwnerDirectory(Self.status(weights: ["n2": 2]))
        let placement = Placement(epoch: 7, members: [.init(id: "n1"), .init(id: "n2", weight: 2), .init(id: "n3")])
        var owners: [String: Int] = [:]
        for sku in Self.skus {
            let url = directory.nodeURL(for: .sku(sku), buckets: nil)
            #expect(url == "http://127.0.0.1:80\(placement.owner(of: sku).dropFirst())")
            owners[url ?? "none", default: 0] += 1
        }
        #expect(owners.count == 3, "200 SKUs over three nodes: \(owners)")
        #expect(directory.epoch == 7)
        #expect(directory.nodeURL(for: .anyNode, buckets: nil) == nil)
        #expect(directory.nodeURL(for: .node("http://elsewhere:1"), buckets: nil) == "http://elsewhere:1")
    }

    @Test func aUsersReservationGoesToTheirBucketsOwnerWhenTheBucketsAreKnown() {
        let directory = OwnerDirectory(Self.status())
        let placement = Placement(epoch: 7, members: ["n1", "n2", "n3"].map { .init(id: $0) })
        var elsewhere = 0
        for user in (0..<100).map({ "user-\($0)" }) {
            let bucket = SKUBuckets.bucket(of: user, buckets: 3)
            let bucketOwner = placement.owner(of: SKUBuckets.name(of: "shoe", bucket: bucket))
            #expect(directory.nodeURL(for: .userReservation(sku: "shoe", user: user), buckets: 3) == "http://127.0.0.1:80\(bucketOwner.dropFirst())")
            // Unknown buckets: the SKU's own entry, which forwards to the bucket.
            #expect(directory.nodeURL(for: .userReservation(sku: "shoe", user: user), buckets: nil) == directory.nodeURL(for: .sku("shoe"), buckets: nil))
            if bucketOwner != placement.owner(of: "shoe") { elsewhere += 1 }
        }
        #expect(elsewhere > 0, "three buckets on three nodes: some users' buckets are not on the SKU's owner")
        // A reservation id names its bucket.
        let id = SKUBuckets.reservationID("r1", bucket: 2)
        let owner = placement.owner(of: SKUBuckets.name(of: "shoe", bucket: 2))
        #expect(directory.nodeURL(for: .reservation(sku: "shoe", id: id), buckets: nil) == "http://127.0.0.1:80\(owner.dropFirst())")
        #expect(directory.nodeURL(for: .reservation(sku: "shoe", id: "r1"), buckets: nil) == directory.nodeURL(for: .sku("shoe"), buckets: nil))
    }

    @Test func aGoneNodesSKUsGoToItsAdopterAndNowhereBeforeIt() {
        let placement = Placement(epoch: 7, members: ["n1", "n2", "n3"].map { .init(id: $0) })
        let ofN2 = Self.skus.filter { placement.owner(of: $0) == "n2" }
        #expect(!ofN2.isEmpty)
        let adopted = OwnerDirectory(Self.status(down: ["n2"], adoptedBy: ["n2": "n3"]))
        let orphaned = OwnerDirectory(Self.status(down: ["n2"]))
        for sku in ofN2 {
            #expect(adopted.nodeURL(for: .sku(sku), buckets: nil) == "http://127.0.0.1:803")
            #expect(orphaned.nodeURL(for: .sku(sku), buckets: nil) == nil)
        }
        #expect(adopted.liveNodeURLs == ["http://127.0.0.1:801", "http://127.0.0.1:803"])
    }

    @Test func withoutAPlacementNothingIsRouted() {
        var status = Self.status()
        status.placement = []
        #expect(OwnerDirectory(status).nodeURL(for: .sku("shoe"), buckets: nil) == nil)
    }
}
