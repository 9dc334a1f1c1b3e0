import FlashSaleCore
import FlashSaleTesting
import Testing

@Suite struct ManualClockTests {
    @Test func sleepersWakeOnlyWhenTheClockPassesTheirDeadline() async throws {
        let clock = ManualClock()
        let start = clock.now
        let woke = Task { try await clock.sleep(for: .seconds(10)); return clock.now }
        #expect(await clock.waitForSleepers(1))
        clock.advance(by: .seconds(9))
        #expect(clock.sleepers == 1)
        clock.advance(by: .seconds(1))
        #expect(try await woke.value == start + .seconds(10))
        #expect(clock.sleepers == 0)
    }

    @Test func aDeadlineInThePastReturnsAtOnce() async throws {
        let clock = ManualClock()
        try await clock.sleep(until: clock.now - .seconds(1))
        #expect(clock.sleepers == 0)
    }

    @Test func cancellingASleeperThrowsAndForgetsIt() async throws {
        let clock = ManualClock()
        let sleeper = Task { try await clock.sleep(for: .seconds(1)) }
        #expect(await clock.waitForSleepers(1))
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        #expect(clock.sleepers == 0)
    }
}
