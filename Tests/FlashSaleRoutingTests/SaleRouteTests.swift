import FlashSaleCluster
import FlashSaleCore
import FlashSaleRouting
import Testing

/// Each routing rule as a list of expectations: the steps the route asks for, given what came of
/// the one before. No I/O: the outcomes are written out as a shard or a peer would answer.
struct SaleRouteTests {
    static func node(_ id: String, state: Membership.NodeState = .active, adoptedBy: String? = nil) -> Membership.Node {
        var node = Membership.Node(
            id: id,
            clientURL: "http://127.0.0.1:1/\(id)",
            peerAddress: "127.0.0.1:2\(id.count)",
            redisURL: "redis://127.0.0.1:3/\(id)",
            state: state
        )
        node.adoptedBy = adoptedBy
        return node
    }

    /// A SKU whose owner under `membership` satisfies `isWanted`.
    static func sku(in membership: Membership, _ isWanted: (String, String?) -> Bool) -> String {
        (0..<10_000).lazy.map { "sku-\($0)" }.first { isWanted(membership.owner(of: $0)!.id, membership.previousOwner(of: $0)?.id) }!
    }

    static let two = Membership(epoch: 3, nodes: [node("n1"), node("n2")])
    static let state = SKUState(sku: "s", settings: SKUSettings(stock: 5), reserved: 0, committed: 0)

    @Test func aNodeNotYetInTheClusterRefuses() {
        var route = SaleRoute(.skuState(sku: "a"), nodeID: "n1")
        guard case .answer(.failure(.unavailable)) = route.start(nil) else { Issue.record("not refused"); return }
    }

    @Test func theOwnerRunsOnItsShardAndAnswersWhatItSays() {
        let sku = Self.sku(in: Self.two) { owner, _ in owner == "n1" }
        var route = SaleRoute(.skuState(sku: sku), nodeID: "n1")
        #expect(route.start(Self.two) == .run(.skuState(sku: sku), on: .served(Self.two.node("n1")!, in: Self.two), mayCreate: true))
        #expect(route.finished(.skuState(Self.state)) == .answer(.skuState(Self.state)))
    }

    @Test func anotherNodeForwardsSpendingOneHopAndRefusesWithNoneLeft() {
        let sku = Self.sku(in: Self.two) { owner, _ in owner == "n2" }
        let operation = SaleOperation.reserve(sku: sku, user: "ann", quantity: 1, requestId: "r1")
        var route = SaleRoute(operation, nodeID: "n1")
        #expect(route.start(Self.two) == .forward(operation, to: Self.two.node("n2")!, hopLimit: 1, senderEpoch: 3))
        #expect(route.finished(.failure(.soldOut)) == .answer(.failure(.soldOut)))
        var exhausted = SaleRoute(operation, nodeID: "n1", hopLimit: 0)
        guard case .answer(.failure(.unavailable)) = exhausted.start(Self.two) else { Issue.record("forwarded with no hops left"); return }
    }

    @Test func anAdoptedShardIsServedByItsAdopter() {
        let membership = Membership(epoch: 5, nodes: [Self.node("n1"), Self.node("n2", adoptedBy: "n1")])
        let sku = Self.sku(in: membership) { owner, _ in owner == "n2" }
        var route = SaleRoute(.skuState(sku: sku), nodeID: "n1")
        #expect(route.start(membership) == .run(.skuState(sku: sku), on: .served(membership.node("n2")!, in: membership), mayCreate: true))
    }

    @Test func aShardThatKnowsANewerEpochMakesTheNodeCatchUpAndRouteOnceMore() {
        let sku = Self.sku(in: Self.two) { owner, _ in owner == "n1" }
        var route = SaleRoute(.skuState(sku: sku), nodeID: "n1")
        _ = route.start(Self.two)
        #expect(route.finished(.failure(.staleMembership(shardEpoch: 4))) == .catchUp(toEpoch: 4))
        let newer = Membership(epoch: 4, nodes: [Self.node("n1"), Self.node("n2")])
        #expect(route.caughtUp(newer) == .run(.skuState(sku: sku), on: .served(newer.node("n1")!, in: newer), mayCreate: true))
        // Only once: a second stale answer is the answer.
        #expect(route.finished(.failure(.staleMembership(shardEpoch: 5))) == .answer(.failure(.staleMembership(shardEpoch: 5))))
    }

    /// n2 joins: a SKU moving from n1 to n2 is first looked for in n2's shard without creating,
    /// then asked of n1, and a define creates it in n2 only when n1 never had it.
    static let joining = Membership(epoch: 6, nodes: [node("n1"), node("n2", state: .joining)])
    static let moving = sku(in: joining) { owner, previous in owner == "n2" && previous == "n1" }

    @Test func whileSKUsMoveTheOwnerAsksThePreviousOwnerForWhatItDoesNotHold() {
        let operation = SaleOperation.reservation(sku: Self.moving, id: "r")
        var route = SaleRoute(operation, nodeID: "n2")
        let shard = SaleRoute.Shard.served(Self.joining.node("n2")!, in: Self.joining)
        #expect(route.start(Self.joining) == .run(operation, on: shard, mayCreate: false))
        #expect(route.finished(.failure(.unknownSKU)) == .askPreviousOwner(operation, at: Self.joining.node("n1")!, senderEpoch: 6))
        #expect(route.finished(.failure(.unknownReservation)) == .answer(.failure(.unknownReservation)))
    }

    @Test func aDefineCreatesTheSKUAtTheOwnerOnlyWhenThePreviousOwnerNeverHadIt() {
        let operation = SaleOperation.defineSKU(sku: Self.moving, settings: SKUSettings(stock: 5))
        let shard = SaleRoute.Shard.served(Self.joining.node("n2")!, in: Self.joining)
        var route = SaleRoute(operation, nodeID: "n2")
        _ = route.start(Self.joining)
        _ = route.finished(.failure(.unknownSKU))
        #expect(route.finished(.failure(.unknownSKU)) == .run(operation, on: shard, mayCreate: true))
        let created = SaleOutcome.skuDefinition(SKUDefinition(state: Self.state, isNew: true))
        #expect(route.finished(created) == .answer(created))
    }

    @Test func aSKUInTransitAnswersMovedUnlessItHasArrivedMeanwhile() {
        let operation = SaleOperation.commit(sku: Self.moving, id: "r")
        let shard = SaleRoute.Shard.served(Self.joining.node("n2")!, in: Self.joining)
        var arrived = SaleRoute(operation, nodeID: "n2")
        _ = arrived.start(Self.joining)
        _ = arrived.finished(.failure(.unknownReservation))
        #expect(arrived.finished(.failure(.moved(epoch: 6))) == .run(.skuState(sku: Self.moving), on: shard, mayCreate: false))
        #expect(arrived.finished(.skuState(Self.state)) == .run(operation, on: shard, mayCreate: true))
        var inTransit = SaleRoute(operation, nodeID: "n2")
        _ = inTransit.start(Self.joining)
        _ = inTransit.finished(.failure(.unknownReservation))
        _ = inTransit.finished(.failure(.moved(epoch: 6)))
        #expect(inTransit.finished(.failure(.unknownSKU)) == .answer(.failure(.moved(epoch: 6))))
        // A SKU this shard does not know at all is not looked for again.
        var unknownHere = SaleRoute(operation, nodeID: "n2")
        _ = unknownHere.start(Self.joining)
        _ = unknownHere.finished(.failure(.unknownSKU))
        #expect(unknownHere.finished(.failure(.moved(epoch: 6))) == .answer(.failure(.moved(epoch: 6))))
    }

    @Test func aRemotePreviousOwnerOnANewerEpochMeansRetry() {
        var route = SaleRoute(.skuState(sku: Self.moving), nodeID: "n2")
        _ = route.start(Self.joining)
        _ = route.finished(.failure(.unknownSKU))
        guard case .answer(.failure(.unavailable)) = route.finished(.failure(.staleMembership(shardEpoch: 7))) else {
            Issue.record("a stale previous owner's answer was passed on")
            return
        }
    }

    @Test func aPreviousOwnerRunsOnItsOwnShardOrOnTheShardItAdoptedWithoutCreating() {
        let operation = SaleOperation.skuState(sku: Self.moving)
        #expect(SaleRoute.asPreviousOwner(operation, nodeID: "n1", membership: Self.joining) == .run(operation, on: .own, mayCreate: false))
        let adopted = Membership(epoch: 7, nodes: [Self.node("n1", adoptedBy: "n3"), Self.node("n2", state: .joining), Self.node("n3")])
        let sku = Self.sku(in: adopted) { _, previous in previous == "n1" }
        #expect(
            SaleRoute.asPreviousOwner(.skuState(sku: sku), nodeID: "n3", membership: adopted)
                == .run(.skuState(sku: sku), on: .adopted(adopted.node("n1")!), mayCreate: false)
        )
    }
}

struct BucketPlanTests {
    @Test func eachOperationGoesToItsBucket() {
        let split = SKUSettings(stock: 30, buckets: 3)
        #expect(BucketPlan.plan(.defineSKU(sku: "tv", settings: split), buckets: 1) == .entryThenEveryBucket)
        #expect(BucketPlan.plan(.defineSKU(sku: "tv", settings: SKUSettings(stock: 30)), buckets: 1) == .whole)
        #expect(BucketPlan.plan(.skuState(sku: "tv"), buckets: 3) == .entryThenEveryBucket)
        #expect(BucketPlan.plan(.skuState(sku: "tv"), buckets: 1) == .whole)
        let bucket = SKUBuckets.bucket(of: "ann", buckets: 3)
        #expect(BucketPlan.plan(.reserve(sku: "tv", user: "ann", quantity: 1, requestId: "r"), buckets: 3) == .bucket(bucket))
        #expect(BucketPlan.plan(.reserve(sku: "tv", user: "ann", quantity: 1, requestId: "r"), buckets: 1) == .whole)
        #expect(BucketPlan.plan(.commit(sku: "tv", id: SKUBuckets.reservationID("abc", bucket: 2)), buckets: 1) == .bucket(2))
        #expect(BucketPlan.plan(.release(sku: "tv", id: "abc"), buckets: 3) == .whole)
        #expect(BucketPlan.plan(.reservation(sku: "tv", id: "abc-99"), buckets: 3) == .whole)
        #expect(BucketPlan.needsBucketCount(.reserve(sku: "tv", user: "ann", quantity: 1, requestId: "r")))
        #expect(!BucketPlan.needsBucketCount(.skuState(sku: "tv")))
    }

    @Test func aDryBucketAsksEveryOtherFromTheNextOn() {
        #expect(BucketPlan.donors(for: 1, of: 3) == [2, 0])
        #expect(BucketPlan.donors(for: 0, of: 1) == [])
    }
}
