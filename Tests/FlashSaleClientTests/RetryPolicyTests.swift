import FlashSaleClient
import Testing

struct RetryPolicyTests {
    let policy = RetryPolicy(attemptsMax: 5, timeBudget: .seconds(10), firstDelay: .milliseconds(100), delayMax: .seconds(1))

    @Test func theDelayDoublesWithinItsJitterUpToItsMaximum() {
        let lowest = (1...4).map { self.policy.delay(afterAttempt: $0, elapsed: .zero, retryAfter: nil, jitter: 0) }
        let highest = (1...4).map { self.policy.delay(afterAttempt: $0, elapsed: .zero, retryAfter: nil, jitter: 0.999_999) }
        #expect(lowest == [.milliseconds(50), .milliseconds(100), .milliseconds(200), .milliseconds(400)])
        for (low, high) in zip(lowest, highest) {
            #expect(high! > low! && high! < low! * 2.001)
        }
        let capped = RetryPolicy(attemptsMax: 20, timeBudget: .seconds(100), firstDelay: .milliseconds(100), delayMax: .seconds(1))
        #expect(capped.delay(afterAttempt: 15, elapsed: .zero, retryAfter: nil, jitter: 0) == .milliseconds(500))
    }

    @Test func retryAfterIsHonouredAsTheLeastWait() {
        #expect(self.policy.delay(afterAttempt: 1, elapsed: .zero, retryAfter: .seconds(2), jitter: 0.5) == .seconds(2))
        #expect(self.policy.delay(afterAttempt: 4, elapsed: .zero, retryAfter: .milliseconds(10), jitter: 0) == .milliseconds(400))
    }

    @Test func theTriesAndTheTimeAreBounded() {
        #expect(self.policy.delay(afterAttempt: 5, elapsed: .zero, retryAfter: nil, jitter: 0) == nil)
        #expect(self.policy.delay(afterAttempt: 1, elapsed: .milliseconds(9_960), retryAfter: nil, jitter: 0) == nil)
        // A Retry-After past the budget ends the call now rather than at the budget's end.
        #expect(self.policy.delay(afterAttempt: 1, elapsed: .seconds(1), retryAfter: .seconds(9), jitter: 0) == nil)
        #expect(RetryPolicy.never.delay(afterAttempt: 1, elapsed: .zero, retryAfter: nil, jitter: 0) == nil)
    }
}
