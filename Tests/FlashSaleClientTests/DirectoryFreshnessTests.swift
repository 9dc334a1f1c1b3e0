@testable import FlashSaleClient
import Testing

/// When the client reads the ring again, with time passed in.
struct DirectoryFreshnessTests {
    let start = ContinuousClock.now


    @Test func theRingIsReadFirstThenOnlyWhenANewerEpochIsSeenOrANodeStopsAnswering() {
        var freshness = DirectoryFreshness(readInterval: .seconds(1))
        var decisions: [DirectoryFreshness.Decision] = []
        var taken: [Bool] = []
        decisions.append(freshness.decide(now: self.start))
        decisions.append(freshness.decide(now: self.start))
        taken.append(freshness.finished(epoch: 3))
        decisions.append(freshness.decide(now: self.start + .seconds(5)))
        freshness.observe(epoch: 3)
        decisions.append(freshness.decide(now: self.start + .seconds(5)))
        freshness.observe(epoch: 4)
        decisions.append(freshness.decide(now: self.start + .seconds(5)))
        taken.append(freshness.finished(epoch: 4))
        freshness.markStale()
        decisions.append(freshness.decide(now: self.start + .seconds(7)))
        // The same epoch read again is taken: an adoption changes no epoch.
        taken.append(freshness.finished(epoch: 4))
        decisions.append(freshness.decide(now: self.start + .seconds(9)))
        #expect(decisions == [.read, .awaitRead, .use, .use, .read, .read, .use])
        #expect(taken == [true, true, true])
    }

    @Test func failedReadsAreNotRepeatedMoreOftenThanTheInterval() {
        var freshness = DirectoryFreshness(readInterval: .seconds(1))
        let first = freshness.decide(now: self.start)
        let taken = freshness.finished(epoch: nil)
        let soon = freshness.decide(now: self.start + .milliseconds(500))
        let later = freshness.decide(now: self.start + .milliseconds(1_000))
        #expect([first, soon, later] == [.read, .use, .read])
        #expect(!taken)
    }

    @Test func anOlderRingThanTheOneHeldIsNotTaken() {
        var freshness = DirectoryFreshness(readInterval: .seconds(1))
        _ = freshness.decide(now: self.start)
        let first = freshness.finished(epoch: 5)
        freshness.markStale()
        let again = freshness.decide(now: self.start + .seconds(2))
        let older = freshness.finished(epoch: 4)
        #expect(first && again == .read && !older)
        #expect(freshness.epochHeld == 5)
    }
}
