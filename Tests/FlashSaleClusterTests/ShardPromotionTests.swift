import FlashSaleCluster
import Testing

/// The choice of a shard's primary, with time passed in.
struct ShardPromotionTests {
    let start = ContinuousClock.now
    let a = "redis://a:1"
    let b = "redis://b:2"

    func machine() -> ShardPromotion { ShardPromotion(servers: [self.a, self.b], failoverAfter: .seconds(2)) }

    @Test func aHealthyPairKeepsItsPrimaryAndDoesNothing() {
        var promotion = self.machine()
        let actions = promotion.observe([self.a: .primary(generation: 3), self.b: .replica(generation: 3)], now: self.start)
        #expect(actions.isEmpty && promotion.primary == self.a && promotion.generation == 3)
        // A replica that is down leaves the primary in place (the shard refuses to acknowledge until it is back).
        let later = promotion.observe([self.a: .primary(generation: 3), self.b: .unreachable], now: self.start + .seconds(60))
        #expect(later.isEmpty && promotion.primary == self.a)
    }

    @Test func theReplicaIsPromotedOnlyAfterThePrimaryHasBeenGoneForTheWholeDelay() {
        var promotion = self.machine()
        _ = promotion.observe([self.a: .primary(generation: 1), self.b: .replica(generation: 1)], now: self.start)
        var actions: [[ShardPromotion.Action]] = []
        actions.append(promotion.observe([self.a: .unreachable, self.b: .replica(generation: 1)], now: self.start + .seconds(1)))
        actions.append(promotion.observe([self.a: .unreachable, self.b: .replica(generation: 1)], now: self.start + .milliseconds(2_900)))
        // Back in time: the wait starts again when it is lost again.
        actions.append(promotion.observe([self.a: .primary(generation: 1), self.b: .replica(generation: 1)], now: self.start + .seconds(3)))
        actions.append(promotion.observe([self.a: .unreachable, self.b: .replica(generation: 1)], now: self.start + .seconds(4)))
        actions.append(promotion.observe([self.a: .unreachable, self.b: .replica(generation: 1)], now: self.start + .milliseconds(5_500)))
        actions.append(promotion.observe([self.a: .unreachable, self.b: .replica(generation: 1)], now: self.start + .seconds(6)))
        #expect(actions == [[], [], [], [], [], [.promote(url: self.b, generation: 2)]])
        #expect(promotion.primary == self.b && promotion.generation == 2)
    }

    @Test func withNoReplicaToPromoteNothingIsPromoted() {
        var promotion = self.machine()
        _ = promotion.observe([self.a: .primary(generation: 1), self.b: .unreachable], now: self.start)
        let actions = promotion.observe([self.a: .unreachable, self.b: .unreachable], now: self.start + .seconds(10))
        #expect(actions.isEmpty && promotion.primary == self.a)
    }

    @Test func anOldPrimaryComingBackFollowsTheNewOneAndNeverLeads() {
        var promotion = self.machine()
        _ = promotion.observe([self.a: .primary(generation: 1), self.b: .replica(generation: 1)], now: self.start)
        _ = promotion.observe([self.a: .unreachable, self.b: .replica(generation: 1)], now: self.start + .seconds(1))
        #expect(promotion.observe([self.a: .unreachable, self.b: .replica(generation: 1)], now: self.start + .seconds(3)) == [.promote(url: self.b, generation: 2)])
        // The promotion has not reached b yet (it still answers as a replica): nothing else happens.
        #expect(promotion.observe([self.a: .unreachable, self.b: .replica(generation: 1)], now: self.start + .seconds(4)) == [])
        // The paused primary wakes, still a primary of generation 1; b is a primary of generation 2.
        let woke = promotion.observe([self.a: .primary(generation: 1), self.b: .primary(generation: 2)], now: self.start + .seconds(5))
        #expect(woke == [.demote(url: self.a, primary: self.b)])
        #expect(promotion.primary == self.b && promotion.generation == 2)
        // Were b unreachable when a wakes, a would still not lead under generation 1: it is told
        // to follow b all the same (read-only until b answers), so nothing can be written to it.
        var other = promotion
        let alone = other.observe([self.a: .primary(generation: 1), self.b: .unreachable], now: self.start + .seconds(6))
        #expect(alone == [.demote(url: self.a, primary: self.b)] && other.primary == self.b)
    }

    @Test func theFirstProbeFindsThePrimaryWhicheverServerItIs() {
        var promotion = self.machine()
        let actions = promotion.observe([self.a: .replica(generation: 5), self.b: .primary(generation: 5)], now: self.start)
        #expect(actions.isEmpty && promotion.primary == self.b && promotion.generation == 5)
    }
}

extension ShardPromotionTests {
    @Test func twoPrimariesOfOneGenerationWithNoneChosenAreLeftAlone() {
        var promotion = self.machine()
        let actions = promotion.observe([self.a: .primary(generation: 2), self.b: .primary(generation: 2)], now: self.start)
        #expect(actions.isEmpty && promotion.primary == nil)
    }

    @Test func aPromotionWhoseGenerationWasNotWrittenIsWrittenAgain() {
        var promotion = self.machine()
        _ = promotion.observe([self.a: .primary(generation: 0), self.b: .replica(generation: 0)], now: self.start)
        _ = promotion.observe([self.a: .unreachable, self.b: .replica(generation: 0)], now: self.start)
        #expect(promotion.observe([self.a: .unreachable, self.b: .replica(generation: 0)], now: self.start + .seconds(2)) == [.promote(url: self.b, generation: 1)])
        // b became a primary but its generation is still 0.
        let again = promotion.observe([self.a: .unreachable, self.b: .primary(generation: 0)], now: self.start + .seconds(3))
        #expect(again == [.promote(url: self.b, generation: 1)])
        let woke = promotion.observe([self.a: .primary(generation: 0), self.b: .primary(generation: 1)], now: self.start + .seconds(4))
        #expect(woke == [.demote(url: self.a, primary: self.b)])
    }
}

extension ShardPromotionTests {
    @Test func aPrimaryBelowTheReplicasGenerationStartedOverAndIsNeverChosen() {
        // A node that starts afresh while the promoted primary b is unreachable, and the lost
        // server a is back on its own, empty: a answers as a primary of generation 0, and a
        // replica (b, before it was promoted, say) holds generation 2.
        var promotion = self.machine()
        #expect(promotion.observe([self.a: .primary(generation: 0), self.b: .replica(generation: 2)], now: self.start) == [])
        #expect(promotion.primary == nil)
        // Had the replica the most history and no valid primary for the delay, it is promoted
        // above every generation seen, and the emptied server follows it.
        let promoted = promotion.observe([self.a: .primary(generation: 0), self.b: .replica(generation: 2)], now: self.start + .seconds(2))
        #expect(promoted == [.promote(url: self.b, generation: 3)])
        let settled = promotion.observe([self.a: .primary(generation: 0), self.b: .primary(generation: 3)], now: self.start + .seconds(3))
        #expect(settled == [.demote(url: self.a, primary: self.b)] && promotion.decided == ShardServers(primary: self.b, replica: self.a))
    }

    @Test func aFreshMachinePromotesAboveTheGenerationTheReplicaHolds() {
        // An adopter starts guarding a shard whose primary (generation 4) is already gone.
        var promotion = self.machine()
        _ = promotion.observe([self.a: .unreachable, self.b: .replica(generation: 4)], now: self.start)
        let actions = promotion.observe([self.a: .unreachable, self.b: .replica(generation: 4)], now: self.start + .seconds(2))
        #expect(actions == [.promote(url: self.b, generation: 5)])
        // The old primary, back with its generation 4, is older and follows.
        let back = promotion.observe([self.a: .primary(generation: 4), self.b: .primary(generation: 5)], now: self.start + .seconds(3))
        #expect(back == [.demote(url: self.a, primary: self.b)])
    }
}
