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

    @Test func onlyActiveAndLeavingNodesOwnSKUs() {
        let membership = Membership(
            epoch: 3,
            nodes: [Self.node("n3", state: .joining), Self.node("n2", state: .leaving), Self.node("n1"), Self.node("n4", state: .down)]
        )
        #expect(membership.nodes.map(\.id) == ["n1", "n2", "n3", "n4"])
        #expect(membership.placement?.members.map(\.id) == ["n1", "n2"])
        let owners = Set((0..<1000).compactMap { membership.owner(of: "sku-\($0)")?.id })
        #expect(owners == ["n1", "n2"])
        let slots = membership.slotCounts()
        #expect(slots.values.reduce(0, +) == Placement.slotCount)
        #expect(slots["n3"] == nil)
    }

    @Test func nobodyOwnsAnythingWithoutActiveNodes() {
        let membership = Membership(epoch: 1, nodes: [Self.node("n1", state: .joining)])
        #expect(membership.placement == nil)
        #expect(membership.owner(of: "a") == nil)
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
