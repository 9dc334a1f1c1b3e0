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

    public init(epoch: Int64, members: [Member]) {
        precondition(!members.isEmpty, "a placement needs at least one member")
        precondition(Set(members.map(\.id)).count == members.count, "member ids must be unique")
        self.epoch = epoch
        // Sorted, so the same membership in any order gives the same placement.
        let sorted = members.sorted { $0.id < $1.id }
        self.members = sorted
        let memberHashes = sorted.map { StableHash.of($0.id) }
        self.owners = (0..<Self.slotCount).map { slot in
            var best = 0
            var bestScore = -Double.infinity
            let slotHash = StableHash.mix(UInt64(slot) &+ 0x9E37_79B9_7F4A_7C15)
            for (index, member) in sorted.enumerated() {
                let score = Self.score(StableHash.mix(memberHashes[index] ^ slotHash), weight: member.weight)
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

    public func owner(of sku: String) -> String {
        self.owner(ofSlot: Self.slot(of: sku))
    }

    public func owner(ofSlot slot: Int) -> String {
        self.members[self.owners[slot]].id
    }

    /// Weighted rendezvous score: -weight / ln(u) with u uniform in (0, 1); the largest wins, and a
    /// member wins a share of slots proportional to its weight.
    private static func score(_ hash: UInt64, weight: Double) -> Double {
        let unit = (Double(hash >> 11) + 0.5) / Double(1 << 53)
        return -weight / log(unit)
    }
}

/// A 64-bit hash that is the same in every process and on every machine (Swift's `Hasher` is
/// seeded per process, so it cannot place SKUs). FNV-1a over the UTF-8 bytes, then the SplitMix64
/// finaliser so that similar names land far apart.
public enum StableHash {
    public static func of(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return mix(hash)
    }

    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
