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

    @Test func theFirstNodeIsActiveALaterOneJoinsAndARestartChangesNothing() {
        let empty = Membership(epoch: 0, nodes: [])
        let n1 = Self.node("n1")
        #expect(empty.join(n1) == .record([n1]))
        let one = Membership(epoch: 1, nodes: [n1])
        #expect(one.join(Self.node("n2")) == .record([Self.node("n2", state: .joining)]))
        var restarted = n1
        restarted.skuCount = 42
        restarted.isLive = false
        #expect(one.join(restarted) == .unchanged)
        let moved = Self.node("n1", peer: "127.0.0.1:9999")
        #expect(one.join(moved) == .record([moved]))
    }

    @Test func aPromotionIsNotAChangeOfAddressesButANewReplicaIs() {
        var n1 = Self.node("n1")
        n1.replicaURL = "redis://127.0.0.1:4/n1"
        // Its replica was promoted: the membership has the two servers the other way round.
        var promoted = n1
        (promoted.redisURL, promoted.replicaURL) = (n1.replicaURL!, n1.redisURL)
        let membership = Membership(epoch: 3, nodes: [promoted])
        // The node starts again with its configuration as it was: nothing changes, the promoted
        // primary stays the one recorded.
        #expect(membership.join(n1) == .unchanged)
        // A shard moved to other servers is a change.
        var replaced = n1
        replaced.replicaURL = "redis://127.0.0.1:5/n1"
        #expect(membership.join(replaced) == .record([replaced]))
    }

    @Test func aRestartKeepsTheRecordedStateAndADownNodeComesBackAsAJoiner() {
        let membership = Membership(epoch: 4, nodes: [Self.node("n1", state: .leaving), Self.node("n2"), Self.node("n3", state: .down)])
        #expect(membership.join(Self.node("n1")) == .unchanged)
        // n1 leaves: n3 waits for that change to end before it comes back.
        guard case .wait = membership.join(Self.node("n3")) else {
            Issue.record("a join started while another change was in progress")
            return
        }
        let settled = Membership(epoch: 5, nodes: [Self.node("n1", state: .down), Self.node("n2"), Self.node("n3", state: .down)])
        #expect(settled.join(Self.node("n3")) == .record([Self.node("n3", state: .joining)]))
    }

    @Test func aLeaveIsOneChangeAtATimeAndNeverOfTheLastActiveNode() {
        let two = Membership(epoch: 2, nodes: [Self.node("n1"), Self.node("n2")])
        #expect(two.leave("n2") == .record([Self.node("n2", state: .leaving)]))
        guard case .unknown = two.leave("n9") else {
            Issue.record("an unknown node left")
            return
        }
        let leaving = Membership(epoch: 3, nodes: [Self.node("n1"), Self.node("n2", state: .leaving)])
        #expect(leaving.leave("n2") == .unchanged)
        guard case .wait = leaving.leave("n1") else {
            Issue.record("a second change started")
            return
        }
        guard case .refuse = Membership(epoch: 4, nodes: [Self.node("n1"), Self.node("n2", state: .down)]).leave("n1") else {
            Issue.record("the last active node left")
            return
        }
    }

    /// The change ends only when every node that is not down reports its handoffs done under this epoch.
    @Test func aChangeSettlesWhenEveryNodeHasHandedOverItsSKUs() {
        var nodes = [Self.node("n1"), Self.node("n2", state: .leaving), Self.node("n3", state: .joining), Self.node("n4", state: .down)]
        #expect(Membership(epoch: 7, nodes: nodes).settle() == nil)
        nodes[0].handoff = .init(epoch: 7, toMove: 10, moved: 10, isFinished: true)
        nodes[1].handoff = .init(epoch: 7, toMove: 30, moved: 29, failedAttempts: 3)
        nodes[2].handoff = .init(epoch: 7, isFinished: true)
        #expect(Membership(epoch: 7, nodes: nodes).settle() == nil)
        nodes[1].handoff = .init(epoch: 6, toMove: 30, moved: 30, isFinished: true)
        #expect(Membership(epoch: 7, nodes: nodes).settle() == nil, "a report of an earlier epoch counts for nothing")
        nodes[1].handoff = .init(epoch: 7, toMove: 30, moved: 30, failedAttempts: 3, isFinished: true)
        let settled = Membership(epoch: 7, nodes: nodes).settle()
        #expect(settled?.map(\.id) == ["n2", "n3"])
        #expect(settled?.map(\.state) == [.down, .active])
        #expect(Membership(epoch: 8, nodes: [Self.node("n1")]).settle() == nil)
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

    /// A node whose lease expired is adopted by one survivor (the live active node with the lowest
    /// id); its SKUs keep their owner, and are served by the adopter from the owner's shard.
    @Test func aGoneNodesShardIsAdoptedByOneSurvivor() {
        var gone = Self.node("n1")
        gone.isLive = false
        let nodes = [gone, Self.node("n2"), Self.node("n3"), Self.node("n4", state: .joining)]
        let membership = Membership(epoch: 5, nodes: nodes)
        #expect(membership.shardsToAdopt(by: "n2").map(\.id) == ["n1"])
        #expect(membership.shardsToAdopt(by: "n3").isEmpty)
        gone.adoptedBy = "n2"
        let adopted = Membership(epoch: 6, nodes: [gone] + nodes.dropFirst())
        #expect(adopted.shardsToAdopt(by: "n2").isEmpty)
        let sku = (0...).lazy.map { "s\($0)" }.first { adopted.owner(of: $0)?.id == "n1" }!
        #expect(adopted.server(of: adopted.owner(of: sku)!).id == "n2")
        // The adopter is gone too: the next survivor adopts the shard again.
        var adopter = Self.node("n2")
        adopter.isLive = false
        adopter.adoptedBy = nil
        let both = Membership(epoch: 7, nodes: [gone, adopter, Self.node("n3")])
        #expect(both.shardsToAdopt(by: "n3").map(\.id) == ["n1", "n2"])
        // The adopter leaves: the shard goes to an active survivor.
        var leavingAdopter = Self.node("n2", state: .leaving)
        leavingAdopter.adoptedBy = nil
        #expect(Membership(epoch: 7, nodes: [gone, leavingAdopter, Self.node("n3")]).shardsToAdopt(by: "n3").map(\.id) == ["n1"])
        // A joining node that never heartbeated (added before it runs) may have no shard yet: not adopted.
        var added = Self.node("n5", state: .joining)
        added.isLive = false
        added.hasRun = false
        #expect(Membership(epoch: 8, nodes: [Self.node("n3"), added]).shardsToAdopt(by: "n3").isEmpty)
        // A joiner that ran and died mid-join is adopted, so that the change can finish without it.
        added.hasRun = true
        let diedJoining = Membership(epoch: 8, nodes: [Self.node("n3"), added])
        #expect(diedJoining.shardsToAdopt(by: "n3").map(\.id) == ["n5"])
        added.adoptedBy = "n3"
        let adoptedJoiner = Membership(epoch: 9, nodes: [Self.node("n3"), added])
        let joinerSKU = (0...).lazy.map { "j\($0)" }.first { adoptedJoiner.owner(of: $0)?.id == "n5" }!
        #expect(adoptedJoiner.server(of: adoptedJoiner.owner(of: joinerSKU)!).id == "n3")
    }
}
