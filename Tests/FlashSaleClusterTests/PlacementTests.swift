import FlashSaleCluster
import FlashSaleCore
import Foundation
import Testing

/// The hashing requirements of the cluster, measured over 10,000 SKUs.
@Suite struct PlacementTests {
    static let skus = (0..<10_000).map { "sku-\($0)" }

    static func members(_ count: Int) -> [Placement.Member] {
        (1...count).map { Placement.Member(id: "n\($0)") }
    }

    static func load(_ placement: Placement) -> [String: Int] {
        skus.reduce(into: [String: Int]()) { $0[placement.owner(of: $1), default: 0] += 1 }
    }

    @Test(arguments: [2, 3, 4, 5, 8, 16])
    func theMostLoadedNodeHoldsAtMost115PercentOfTheMean(_ nodes: Int) {
        let load = Self.load(Placement(epoch: 1, members: Self.members(nodes)))
        let mean = Double(Self.skus.count) / Double(nodes)
        let ratio = Double(load.values.max() ?? 0) / mean
        print("placement: \(nodes) nodes, 10,000 SKUs, most loaded / mean = \(String(format: "%.3f", ratio))")
        #expect(load.count == nodes)
        #expect(ratio <= 1.15, "max/mean \(ratio) with \(nodes) nodes")
    }

    @Test func weightsAreRespected() {
        let placement = Placement(epoch: 1, members: [.init(id: "small"), .init(id: "big", weight: 2), .init(id: "other")])
        let load = Self.load(placement)
        let share = Double(load["big", default: 0]) / Double(Self.skus.count)
        #expect(abs(share - 0.5) < 0.05, "a weight-2 node among weight-1 nodes holds \(share), expected 0.5")
    }

    @Test(arguments: [1, 2, 3, 4, 7])
    func addingANodeMovesAboutOneInNPlusOneAndNoneBetweenOldNodes(_ nodes: Int) {
        let before = Placement(epoch: 1, members: Self.members(nodes))
        let after = Placement(epoch: 2, members: Self.members(nodes + 1))
        let newcomer = "n\(nodes + 1)"
        var moved = 0
        for sku in Self.skus {
            let old = before.owner(of: sku)
            let new = after.owner(of: sku)
            guard old != new else { continue }
            moved += 1
            #expect(new == newcomer, "\(sku) moved from \(old) to \(new), between old nodes")
        }
        let expected = Double(Self.skus.count) / Double(nodes + 1)
        print("placement: \(nodes) -> \(nodes + 1) nodes moves \(moved) of 10,000 SKUs (1/(N+1) = \(Int(expected)))")
        #expect(abs(Double(moved) - expected) / expected < 0.15, "moved \(moved), expected about \(expected)")
    }

    @Test(arguments: [2, 3, 4, 8])
    func removingANodeMovesOnlyItsSKUs(_ nodes: Int) {
        let before = Placement(epoch: 1, members: Self.members(nodes))
        let leaving = "n\(nodes)"
        let after = Placement(epoch: 2, members: Self.members(nodes - 1))
        for sku in Self.skus where before.owner(of: sku) != leaving {
            #expect(after.owner(of: sku) == before.owner(of: sku))
        }
    }

    /// A split SKU's buckets sit on different nodes while there are enough, bucket 0 on the SKU's
    /// own owner; a join moves at most the buckets the newcomer now ranks for.
    @Test(arguments: [2, 3, 5])
    func theBucketsOfASplitSKUGoToDifferentNodes(_ nodeCount: Int) {
        let members = (1...nodeCount).map { Placement.Member(id: "n\($0)") }
        let placement = Placement(epoch: 1, members: members)
        for sku in (0..<200).map({ "sku-\($0)" }) {
            let owners = (0..<nodeCount).map { placement.owner(of: SKUBuckets.name(of: sku, bucket: $0)) }
            #expect(Set(owners).count == nodeCount, "\(sku): \(owners)")
            #expect(owners[0] == placement.owner(of: sku))
            // More buckets than nodes wrap around the same ranking.
            #expect(placement.owner(of: SKUBuckets.name(of: sku, bucket: nodeCount)) == owners[0])
        }
    }

    @Test func isDeterministicAndIndependentOfMemberOrder() {
        let a = Placement(epoch: 3, members: [.init(id: "a"), .init(id: "b"), .init(id: "c")])
        let b = Placement(epoch: 3, members: [.init(id: "c"), .init(id: "a"), .init(id: "b")])
        #expect(a == b)
        // Fixed values: the placement must be the same on every machine and in every process.
        #expect(StableHash.of("") == StableHash.mix(0xCBF2_9CE4_8422_2325))
        #expect(StableHash.of("sku-1") == 8_208_251_347_448_512_663)
        #expect(Placement.slot(of: "sku-1") == 151)
        #expect(StableHash.of("sku-1") != StableHash.of("sku-2"))
    }
}
