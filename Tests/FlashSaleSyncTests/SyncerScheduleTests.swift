import FlashSaleSync
import Testing

/// The syncer's schedule without I/O: lease TTL 5 s (renew every 1 s, retry every 1 s, failures
/// rest 500 ms), 50 ms rest after an empty pass, the shard list re-read every second.
@Suite struct SyncerScheduleTests {
    let start = ContinuousClock.now

    func schedule() -> SyncerSchedule {
        SyncerSchedule(leaseTTL: .seconds(5), idleDelay: .milliseconds(50), now: self.start)
    }

    func lead(_ schedule: inout SyncerSchedule, epoch: Int64 = 1) {
        #expect(schedule.next(now: self.start) == .acquire)
        schedule.acquired(epoch: epoch, sentAt: self.start)
    }

    @Test func aFollowerSleepsUntilItsNextAttemptInsteadOfPolling() {
        var schedule = self.schedule()
        #expect(schedule.next(now: start) == .acquire)
        schedule.acquireFailed(now: start)
        #expect(schedule.next(now: start + .milliseconds(10)) == .wait(until: start + .seconds(1)))
        #expect(schedule.next(now: start + .seconds(1)) == .acquire)
    }

    @Test func aLeaderFlushesBackToBackWhilePassesFindEventsAndRestsAfterAnEmptyOne() {
        var schedule = self.schedule()
        self.lead(&schedule)
        #expect(schedule.next(now: start) == .flush(epoch: 1, readShards: true))
        schedule.shardsRead(now: start)
        schedule.flushed(events: 300, now: start + .milliseconds(5))
        #expect(schedule.next(now: start + .milliseconds(5)) == .flush(epoch: 1, readShards: false))
        schedule.flushed(events: 0, now: start + .milliseconds(10))
        #expect(schedule.next(now: start + .milliseconds(10)) == .wait(until: start + .milliseconds(60)))
        #expect(schedule.next(now: start + .milliseconds(59)) == .wait(until: start + .milliseconds(60)))
        #expect(schedule.next(now: start + .milliseconds(60)) == .flush(epoch: 1, readShards: false))
    }

    @Test func theShardListIsReadAgainOnceASecondAndAfterAFailure() {
        var schedule = self.schedule()
        self.lead(&schedule)
        _ = schedule.next(now: start)
        schedule.shardsRead(now: start)
        schedule.flushed(events: 1, now: start)
        #expect(schedule.next(now: start + .milliseconds(999)) == .flush(epoch: 1, readShards: false))
        schedule.flushed(events: 1, now: start + .milliseconds(999))
        // The renewal is due at 1 s, before the shard list is re-read.
        #expect(schedule.next(now: start + .seconds(1)) == .renew(epoch: 1))
        schedule.renewed(epoch: 1, sentAt: start + .seconds(1))
        #expect(schedule.next(now: start + .seconds(1)) == .flush(epoch: 1, readShards: true))
        schedule.shardsRead(now: start + .seconds(1))
        schedule.flushFailed(now: start + .milliseconds(1100))
        #expect(schedule.next(now: start + .milliseconds(1100)) == .wait(until: start + .milliseconds(1600)))
        #expect(schedule.next(now: start + .milliseconds(1600)) == .flush(epoch: 1, readShards: true))
    }

    /// A rest never postpones a renewal: the leader wakes for it even in the middle of a rest.
    @Test func aRestEndsNoLaterThanTheNextRenewal() {
        var schedule = SyncerSchedule(leaseTTL: .seconds(5), idleDelay: .seconds(3), now: self.start)
        self.lead(&schedule)
        _ = schedule.next(now: start)
        schedule.flushed(events: 0, now: start + .milliseconds(100))
        #expect(schedule.next(now: start + .milliseconds(100)) == .wait(until: start + .seconds(1)))
        #expect(schedule.next(now: start + .seconds(1)) == .renew(epoch: 1))
    }

    @Test func fencedTheLeaderStopsFlushingAtOnceAndCompetesAgainLater() {
        var schedule = self.schedule()
        self.lead(&schedule, epoch: 4)
        #expect(schedule.next(now: start) == .flush(epoch: 4, readShards: true))
        schedule.lost(now: start + .milliseconds(20))
        #expect(schedule.lease.leaderEpoch == nil)
        #expect(schedule.next(now: start + .milliseconds(20)) == .wait(until: start + .milliseconds(1020)))
        #expect(schedule.next(now: start + .milliseconds(1020)) == .acquire)
    }
}
