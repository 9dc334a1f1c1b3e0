import FlashSaleSync
import Testing

@Suite struct SyncerLeaseTests {
    let start = ContinuousClock.now

    func lease() -> SyncerLease {
        SyncerLease(ttl: .seconds(5), renewInterval: .seconds(1), retryInterval: .milliseconds(500), safetyMargin: .milliseconds(500), now: self.start)
    }

    @Test func aFollowerTriesAtOnceThenLeadsAndRenewsOnSchedule() {
        var lease = self.lease()
        #expect(lease.tick(now: start) == .acquire)
        lease.acquired(epoch: 7, sentAt: start)
        #expect(lease.leaderEpoch == 7)
        #expect(lease.tick(now: start + .milliseconds(999)) == .flush(epoch: 7))
        #expect(lease.tick(now: start + .seconds(1)) == .renew(epoch: 7))
        lease.renewed(epoch: 7, sentAt: start + .seconds(1))
        #expect(lease.tick(now: start + .milliseconds(1500)) == .flush(epoch: 7))
        #expect(lease.tick(now: start + .seconds(2)) == .renew(epoch: 7))
    }

    @Test func aRefusedAcquireWaitsTheRetryInterval() {
        var lease = self.lease()
        #expect(lease.tick(now: start) == .acquire)
        lease.acquireFailed(now: start)
        #expect(lease.tick(now: start + .milliseconds(499)) == .wait(until: start + .milliseconds(500)))
        #expect(lease.tick(now: start + .milliseconds(500)) == .acquire)
        #expect(lease.leaderEpoch == nil)
    }

    /// Expiry: with PostgreSQL unreachable, the leader stops flushing before its lease can have
    /// run out by PostgreSQL's clock (sent time + ttl - margin), never after.
    @Test func failedRenewalsStopLeadershipBeforeTheLeaseRunsOut() {
        var lease = self.lease()
        _ = lease.tick(now: start)
        lease.acquired(epoch: 1, sentAt: start)
        var now = start + .seconds(1)
        while now < start + .milliseconds(4500) {
            let action = lease.tick(now: now)
            #expect(action == .renew(epoch: 1) || action == .flush(epoch: 1))
            if action == .renew(epoch: 1) { lease.renewFailed(now: now) }
            now += .milliseconds(100)
        }
        #expect(lease.tick(now: start + .milliseconds(4500)) == .acquire)
        #expect(lease.leaderEpoch == nil)
    }

    /// Loss and handover: told the lease is gone, the leader stops at once and later competes again.
    @Test func losingTheLeaseStopsFlushingAtOnce() {
        var lease = self.lease()
        _ = lease.tick(now: start)
        lease.acquired(epoch: 3, sentAt: start)
        lease.lost(now: start + .milliseconds(200))
        #expect(lease.leaderEpoch == nil)
        #expect(lease.tick(now: start + .milliseconds(300)) == .wait(until: start + .milliseconds(700)))
        #expect(lease.tick(now: start + .milliseconds(700)) == .acquire)
        lease.acquired(epoch: 5, sentAt: start + .milliseconds(700))
        #expect(lease.tick(now: start + .milliseconds(800)) == .flush(epoch: 5))
    }

    @Test func aLateRenewalOfAnOldEpochChangesNothing() {
        var lease = self.lease()
        _ = lease.tick(now: start)
        lease.acquired(epoch: 4, sentAt: start)
        lease.renewed(epoch: 3, sentAt: start + .seconds(3))
        #expect(lease.tick(now: start + .milliseconds(4500)) == .acquire)
    }
}
