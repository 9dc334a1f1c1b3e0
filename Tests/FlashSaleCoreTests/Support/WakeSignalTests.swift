import FlashSaleCore
import FlashSaleTesting
import Testing

/// The runner's wake-up: by a ring, kept when nobody waits, or by the deadline on the clock given.
@Suite struct WakeSignalTests {
    @Test func aRingWhileNobodyWaitsEndsTheNextWaitAtOnceAndOnlyThatOne() async {
        let clock = ManualClock()
        let signal = WakeSignal()
        signal.ring()
        signal.ring()
        await signal.wait(until: clock.now + .seconds(3600), on: clock)
        // The two rings counted as one: the next wait sleeps until it is rung or its deadline.
        let waiting = Task { await signal.wait(until: clock.now + .seconds(10), on: clock) }
        #expect(await clock.waitForSleepers(1))
        clock.advance(by: .seconds(10))
        await waiting.value
    }

    @Test func aRingEndsAWaitBeforeItsDeadline() async {
        let clock = ManualClock()
        let signal = WakeSignal()
        let waiting = Task { await signal.wait(until: clock.now + .seconds(3600), on: clock) }
        #expect(await clock.waitForSleepers(1))
        signal.ring()
        await waiting.value
        #expect(clock.sleepers == 0, "the deadline's sleep was cancelled")
    }

    @Test func cancellingTheWaiterEndsTheWait() async {
        let clock = ManualClock()
        let signal = WakeSignal()
        let waiting = Task { await signal.wait(until: clock.now + .seconds(3600), on: clock) }
        #expect(await clock.waitForSleepers(1))
        waiting.cancel()
        await waiting.value
    }
}
