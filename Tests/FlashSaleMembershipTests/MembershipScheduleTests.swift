import FlashSaleMembership
import Testing

/// The membership service's schedule, without I/O: time is passed in.
@Suite struct MembershipScheduleTests {
    let start = ContinuousClock.now
    let beat = Duration.seconds(1)

    func joinedSchedule() -> MembershipSchedule {
        var schedule = MembershipSchedule(heartbeatInterval: self.beat, now: self.start)
        #expect(schedule.next(now: self.start, knownEpoch: 0) == .join)
        schedule.joined(now: self.start)
        return schedule
    }

    @Test func aJoinerRetriesSoonWhileAChangeIsInProgressAndBacksOffWhilePostgresIsUnreachable() {
        var schedule = MembershipSchedule(heartbeatInterval: self.beat, now: self.start)
        #expect(schedule.next(now: self.start, knownEpoch: 0) == .join)
        schedule.joinFailed(.unreachable, now: self.start)
        let first = self.start + .milliseconds(100)
        #expect(schedule.next(now: self.start, knownEpoch: 0) == .wait(until: first))
        #expect(schedule.next(now: first, knownEpoch: 0) == .join)
        schedule.joinFailed(.unreachable, now: first)
        let second = first + .milliseconds(200)
        #expect(schedule.next(now: first, knownEpoch: 0) == .wait(until: second))
        schedule.joinFailed(.changeInProgress, now: second)
        #expect(schedule.next(now: second, knownEpoch: 0) == .wait(until: second + .milliseconds(200)))

        var delay = Duration.milliseconds(400)
        var now = second
        for _ in 0..<6 {
            schedule.joinFailed(.unreachable, now: now)
            #expect(schedule.next(now: now, knownEpoch: 0) == .wait(until: now + delay))
            now = now + delay
            delay = min(delay * 2, .seconds(2))
        }
        #expect(delay == .seconds(2), "the delay stops growing at two seconds")
    }

    @Test func aMemberHeartbeatsAtOnceAfterJoiningThenOnceAnInterval() {
        var schedule = self.joinedSchedule()
        #expect(schedule.next(now: self.start, knownEpoch: 1) == .heartbeat)
        #expect(schedule.next(now: self.start, knownEpoch: 1) == .wait(until: self.start + self.beat))
        #expect(schedule.next(now: self.start + .milliseconds(999), knownEpoch: 1) == .wait(until: self.start + self.beat))
        let late = self.start + .milliseconds(1_300)
        #expect(schedule.next(now: late, knownEpoch: 1) == .heartbeat)
        #expect(schedule.next(now: late, knownEpoch: 1) == .wait(until: late + self.beat), "counted from the beat, not the schedule")
    }

    @Test func aNewerEpochFromAPeerIsReadAtOnceAndAgainAtMostEverySpacingUntilKnown() {
        var schedule = self.joinedSchedule()
        #expect(schedule.next(now: self.start, knownEpoch: 3) == .heartbeat)
        let same = schedule.heard(epoch: 3, knownEpoch: 3)
        #expect(!same, "not newer than ours")
        #expect(schedule.next(now: self.start, knownEpoch: 3) == .wait(until: self.start + self.beat))

        let told = self.start + .milliseconds(10)
        let raised = schedule.heard(epoch: 5, knownEpoch: 3)
        #expect(raised, "newer: the runner looks at once")
        let older = schedule.heard(epoch: 4, knownEpoch: 3)
        #expect(!older, "older than what was heard already")
        #expect(schedule.next(now: told, knownEpoch: 3) == .read)
        // The read failed (ours is still 3): the next read waits for the spacing, not the heartbeat.
        #expect(schedule.next(now: told, knownEpoch: 3) == .wait(until: told + .milliseconds(50)))
        #expect(schedule.next(now: told + .milliseconds(50), knownEpoch: 3) == .read)
        // Read: 5 is ours now, nothing more until the heartbeat.
        #expect(schedule.next(now: told + .milliseconds(60), knownEpoch: 5) == .wait(until: self.start + self.beat))
    }

    @Test func handoffsDoneHeartbeatAtOnceOnlyOnce() {
        var schedule = self.joinedSchedule()
        #expect(schedule.next(now: self.start, knownEpoch: 1) == .heartbeat)
        let done = self.start + .milliseconds(300)
        schedule.handoffsDone()
        #expect(schedule.next(now: done, knownEpoch: 1) == .heartbeat)
        #expect(schedule.next(now: done, knownEpoch: 1) == .wait(until: done + self.beat))
    }

    @Test func handoffsDoneWhileJoiningAreReportedByTheFirstBeat() {
        var schedule = MembershipSchedule(heartbeatInterval: self.beat, now: self.start)
        schedule.handoffsDone()
        #expect(schedule.next(now: self.start, knownEpoch: 0) == .join)
        schedule.joined(now: self.start)
        #expect(schedule.next(now: self.start, knownEpoch: 1) == .heartbeat)
        #expect(schedule.next(now: self.start, knownEpoch: 1) == .wait(until: self.start + self.beat))
    }
}
