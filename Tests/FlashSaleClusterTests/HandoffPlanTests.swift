import Testing

@testable import FlashSaleCluster

struct HandoffPlanTests {
    static func membership(_ ids: [String], epoch: Int64) -> Membership {
        Membership(epoch: epoch, nodes: ids.map { .init(id: $0, clientURL: "", peerAddress: "", redisURL: "", state: .active) })
    }

    let start = ContinuousClock.now
    let skus = (0..<1000).map { "sku-\($0)" }

    @Test func aJoinMovesOnlyTheSKUsTheNewcomerWinsAndAllOfThemGoToIt() {
        let before = Self.membership(["n1", "n2", "n3"], epoch: 3)
        let after = Self.membership(["n1", "n2", "n3", "n4"], epoch: 4)
        let mine = self.skus.filter { before.owner(of: $0)?.id == "n1" }
        var plan = HandoffPlan(node: "n1", skus: mine, membership: after, concurrency: 1000)
        let moves = plan.start(now: self.start)
        #expect(moves.allSatisfy { $0.to == "n4" })
        #expect(Set(moves.map(\.sku)) == Set(mine.filter { after.owner(of: $0)?.id == "n4" }))
        #expect(plan.progress.toMove == moves.count && moves.count > 0)
    }

    @Test func movesAreThrottledAndCounted() {
        var plan = HandoffPlan(node: "n1", skus: self.skus, membership: Self.membership(["n2"], epoch: 2), concurrency: 4)
        var first = plan.start(now: self.start)
        #expect(first.count == 4)
        #expect(plan.start(now: self.start).isEmpty, "more than 4 moves at once")
        plan.completed(first[0].sku)
        plan.completed(first[0].sku)  // a repeated acknowledgement counts once
        #expect(plan.progress.moved == 1 && plan.progress.moving == 3)
        first = plan.start(now: self.start)
        #expect(first.count == 1)
    }

    @Test func aFailedMoveIsRetriedAfterItsBackoffAndOthersGoFirst() {
        var plan = HandoffPlan(node: "n1", skus: ["a", "b", "c"], membership: Self.membership(["n2"], epoch: 2), concurrency: 1)
        let a = plan.start(now: self.start)
        #expect(a.map(\.sku) == ["a"])
        plan.failed("a", now: self.start)
        #expect(plan.nextStart(now: self.start) == self.start, "b and c wait for nothing")
        #expect(plan.start(now: self.start).map(\.sku) == ["b"], "the others go before the failed move")
        #expect(plan.nextStart(now: self.start) == nil, "the concurrency is full: b's end comes first")
        plan.completed("b")
        #expect(plan.start(now: self.start).map(\.sku) == ["c"])
        plan.completed("c")
        #expect(plan.start(now: self.start).isEmpty, "retried inside its backoff")
        #expect(plan.nextStart(now: self.start) == self.start + plan.retryBackoff, "the runner sleeps until the backoff ends")
        #expect(plan.start(now: self.start + plan.retryBackoff).map(\.sku) == ["a"])
        plan.completed("a")
        #expect(plan.nextStart(now: self.start) == nil, "nothing waits")
        #expect(plan.progress == .init(toMove: 3, moved: 3, moving: 0, failedAttempts: 1))
        #expect(plan.progress.isDone)
    }

    @Test func nothingMovesWhenThePlacementGivesEverySKUBack() {
        var plan = HandoffPlan(node: "n1", skus: self.skus, membership: Self.membership(["n1"], epoch: 5), concurrency: 8)
        #expect(plan.start(now: self.start).isEmpty)
        #expect(plan.progress.isDone)
    }
}
