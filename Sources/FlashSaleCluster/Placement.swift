public import FlashSaleCore
import Foundation

/// Which node owns which SKU: a pure, deterministic function of the membership.
///
/// SKUs hash to one of `slotCount` fixed slots; each slot goes to the node with the highest
/// weighted rendezvous score for it. Rendezvous (highest random weight) hashing moves, when a node
/// joins, exactly the slots the newcomer now wins (about 1/(N+1) of them) and none between old
/// nodes; when a node leaves, only its slots move. Slots make a lookup one hash and one array read,
/// and give rebalancing a unit smaller than a node and larger than a SKU.
public struct Placement: Sendable, Hashable {
    public struct Member: Sendable, Hashable {
        public var id: String
        /// Relative capacity: a node of weight 2 gets about twice the slots of a node of weight 1.
        public var weight: Double

        public init(id: String, weight: Double = 1) {
            precondition(weight > 0, "a member's weight must be positive")
            self.id = id
            self.weight = weight
        }
    }

    public static let slotCount = 4096

    public let epoch: Int64
    public let members: [Member]
    /// Slot -> index into `members`.
    private let owners: [Int]
    /// `StableHash.of` each member's id, in `members`' order.
    private let memberHashes: [UInt64]

    public init(epoch: Int64, members: [Member]) {
        precondition(!members.isEmpty, "a placement needs at least one member")
        precondition(Set(members.map(\.id)).count == members.count, "member ids must be unique")
        self.epoch = epoch
        // Sorted, so the same membership in any order gives the same placement.
        let sorted = members.sorted { $0.id < $1.id }
        self.members = sorted
        let memberHashes = sorted.map { StableHash.of($0.id) }
        self.memberHashes = memberHashes
        self.owners = (0..<Self.slotCount).map { slot in
            var best = 0
            var bestScore = -Double.infinity
            for (index, member) in sorted.enumerated() {
                let score = Self.score(memberHash: memberHashes[index], slot: slot, weight: member.weight)
                if score > bestScore {
                    bestScore = score
                    best = index
                }
            }
            return best
        }
    }

    public static func slot(of sku: String) -> Int {
        Int(StableHash.of(sku) % UInt64(Self.slotCount))
    }

    /// A SKU's owner: its slot's. Bucket `i` of a split SKU (`SKUBuckets`) goes to the member
    /// ranked `i`-th (modulo the members) by rendezvous score for the SKU's slot, so its buckets
    /// sit on as many different nodes as there are, and a join or leave moves few of them.
    public func owner(of sku: String) -> String {
        guard let (base, bucket) = SKUBuckets.parse(sku) else {
            return self.owner(ofSlot: Self.slot(of: sku))
        }
        return self.ranked(forSlot: Self.slot(of: base))[bucket % self.members.count]
    }

    /// The members by descending score for `slot`: the first is the slot's owner.
    func ranked(forSlot slot: Int) -> [String] {
        let scores = self.members.indices.map { Self.score(memberHash: self.memberHashes[$0], slot: slot, weight: self.members[$0].weight) }
        return self.members.indices.sorted { scores[$0] > scores[$1] }.map { self.members[$0].id }
    }

    public func owner(ofSlot slot: Int) -> String {
        self.members[self.owners[slot]].id
    }

    /// Weighted rendezvous score: -weight / ln(u) with u uniform in (0, 1); the largest wins, and a
    /// member wins a share of slots proportional to its weight.
    private static func score(memberHash: UInt64, slot: Int, weight: Double) -> Double {
        let hash = StableHash.mix(memberHash ^ StableHash.mix(UInt64(slot) &+ 0x9E37_79B9_7F4A_7C15))
        let unit = (Double(hash >> 11) + 0.5) / Double(1 << 53)
        return -weight / log(unit)
    }
}
