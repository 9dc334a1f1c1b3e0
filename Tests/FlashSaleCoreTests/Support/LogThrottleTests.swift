import FlashSaleCore
import Testing

@Suite struct LogThrottleTests {
    @Test func oneLineAKeyAnIntervalCountingTheRest() {
        var throttle = LogThrottle(intervalMilliseconds: 1000)
        #expect(throttle.admit("redis", nowMilliseconds: 0) == 0)
        for time in stride(from: Int64(10), to: 1000, by: 10) { #expect(throttle.admit("redis", nowMilliseconds: time) == nil) }
        // Another key is not held back by the first.
        #expect(throttle.admit("peer", nowMilliseconds: 500) == 0)
        // After the interval: written again, standing for the 99 left out.
        #expect(throttle.admit("redis", nowMilliseconds: 1000) == 99)
        #expect(throttle.admit("redis", nowMilliseconds: 5000) == 0)
    }

    @Test func theKeyTableIsBounded() {
        var throttle = LogThrottle(intervalMilliseconds: 1000, keysMax: 2)
        #expect(throttle.admit("a", nowMilliseconds: 0) == 0)
        #expect(throttle.admit("b", nowMilliseconds: 0) == 0)
        #expect(throttle.admit("c", nowMilliseconds: 0) == 0)  // the table was cleared for it
        #expect(throttle.admit("a", nowMilliseconds: 1) == 0)  // so "a" is new again
        #expect(throttle.admit("c", nowMilliseconds: 2) == nil)
    }
}
