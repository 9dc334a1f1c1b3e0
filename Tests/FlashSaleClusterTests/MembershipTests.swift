import Testing

@testable import FlashSaleCluster

struct MembershipTests {
    static func node(_ id: String, state: Membership.NodeState = .active, peer: String? = nil) -> Membership.Node {
        Membership.Node(
            id: id,
            clientURL: "http://127.0.0.1:1/\(id)",
            peerAddress: peer ?? "127.0.0.1:2\(id.count)",
            redisURL: "redis://127.0.0.1:3/\(id)",
            state: state
        )
    }

    @Test func aNewNodeRaisesTheEpochAndARestartDoesNot() {
        let n1 = Self.node("n1")
        #expect(Membership.join(n1, existing: nil) == .record(n1, newEpoch: true))
        var restarted = n1
        restarted.skuCount = 42
        restarted.isLive = false
        #expect(Membership.join(restarted, existing: n1) == .unchanged)
        let moved = Self.node("n1", peer: "127.0.0.1:9999")
        #expect(Membership.join(moved, existing: n1) == .record(moved, newEpoch: true))
    }

    @Test func aRestartKeepsTheRecordedStateAndADownNodeComesBack() {
        let leaving = Self.node("n1", state: .leaving)
        #expect(Membership.join(Self.node("n1"), existing: leaving) == .unchanged)
        #expect(Membership.join(Self.node("n1"), existing: Self.node("n1", state: .down)) == .record(Self.node("n1"), newEpoch: true))
    }

    @Test func activeAndJoiningNodesOwnSKUsAndLeavingOnesHandThemOver() {
        let membership = Membership(
            epoch: 3,
            nodes: [Self.node("n3", state: .joining), Self.node("n2", state: .leaving), Self.node("n1"), Self.node("n4", state: .down)]
        )
        #expect(membership.nodes.map(\.id) == ["n1", "n2", "n3", "n4"])
        #expect(membership.isRebalancing)
        #expect(membership.placement?.members.map(\.id) == ["n1", "n3"])
        #expect(membership.previousPlacement?.members.map(\.id) == ["n1", "n2"])
        let owners = Set((0..<1000).compactMap { membership.owner(of: "sku-\($0)")?.id })
        #expect(owners == ["n1", "n3"])
        let slots = membership.slotCounts()
        #expect(slots.values.reduce(0, +) == Placement.slotCount)
        #expect(slots["n2"] == nil)
    }

    /// A join moves SKUs only to the newcomer, from whichever node held them; every other SKU has
    /// no previous owner to ask.
    @Test func whileANodeJoinsOnlyTheSKUsItTakesHaveAPreviousOwner() {
        let settled = Membership(epoch: 4, nodes: ["n1", "n2", "n3"].map { Self.node($0) })
        #expect(!settled.isRebalancing && settled.previousPlacement == nil)
        let joining = Membership(epoch: 5, nodes: ["n1", "n2", "n3"].map { Self.node($0) } + [Self.node("n4", state: .joining)])
        var moving = 0
        for index in 0..<10_000 {
            let sku = "sku-\(index)"
            #expect(settled.previousOwner(of: sku) == nil)
            guard let previous = joining.previousOwner(of: sku) else {
                #expect(joining.owner(of: sku)?.id == settled.owner(of: sku)?.id, "a SKU changed owner without a previous owner")
                continue
            }
            moving += 1
            #expect(joining.owner(of: sku)?.id == "n4")
            #expect(previous.id == settled.owner(of: sku)?.id)
        }
        // About a quarter moves to the fourth node.
        #expect((2_000...3_000).contains(moving))
    }

    /// A leave moves exactly the leaving node's SKUs, to the others.
    @Test func whileANodeLeavesOnlyItsSKUsHaveAPreviousOwner() {
        let settled = Membership(epoch: 4, nodes: ["n1", "n2", "n3"].map { Self.node($0) })
        let leaving = Membership(epoch: 5, nodes: [Self.node("n1"), Self.node("n2", state: .leaving), Self.node("n3")])
        for index in 0..<10_000 {
            let sku = "sku-\(index)"
            let before = settled.owner(of: sku)?.id
            #expect(leaving.previousOwner(of: sku)?.id == (before == "n2" ? "n2" : nil))
            #expect(leaving.owner(of: sku)?.id != "n2")
            if before != "n2" { #expect(leaving.owner(of: sku)?.id == before) }
        }
    }

    @Test func nobodyOwnsAnythingWithoutActiveNodes() {
        let membership = Membership(epoch: 1, nodes: [Self.node("n1", state: .leaving)])
        #expect(membership.placement == nil)
        #expect(membership.owner(of: "a") == nil)
        // The last node cannot leave: nobody would take its SKUs. They stay where they are.
        #expect(membership.previousOwner(of: "a")?.id == "n1")
        #expect(membership.slotCounts().isEmpty)
    }

    /// Every node computes the same owner from the same membership, whatever order it read the rows in.
    @Test func ownershipDoesNotDependOnRowOrder() {
        let nodes = ["n1", "n2", "n3"].map { Self.node($0) }
        let a = Membership(epoch: 2, nodes: nodes)
        let b = Membership(epoch: 2, nodes: nodes.reversed())
        for index in 0..<2000 { #expect(a.owner(of: "s\(index)")?.id == b.owner(of: "s\(index)")?.id) }
    }
}
