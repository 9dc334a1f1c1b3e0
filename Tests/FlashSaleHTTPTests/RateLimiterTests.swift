import FlashSaleHTTP
import Testing

@Suite struct RateLimiterTests {
    @Test func aKeyMayBurstThenGetsTokensBackAtTheRate() {
        var limiter = RateLimiter(rule: .init(ratePerSecond: 2, burst: 3))
        for _ in 0..<3 { #expect(limiter.decide("ann", nowMilliseconds: 0) == .allowed) }
        #expect(limiter.decide("ann", nowMilliseconds: 0) == .limited(retryAfterSeconds: 1))
        // Half a second at 2 a second gives one token back, no more.
        #expect(limiter.decide("ann", nowMilliseconds: 500) == .allowed)
        #expect(limiter.decide("ann", nowMilliseconds: 500) == .limited(retryAfterSeconds: 1))
        // Refused calls do not spend tokens: after ten idle seconds the bucket is full again, not over.
        for _ in 0..<3 { #expect(limiter.decide("ann", nowMilliseconds: 10_500) == .allowed) }
        #expect(limiter.decide("ann", nowMilliseconds: 10_500) != .allowed)
    }

    @Test func keysAreLimitedApart() {
        var limiter = RateLimiter(rule: .init(ratePerSecond: 1, burst: 1))
        #expect(limiter.decide("ann", nowMilliseconds: 0) == .allowed)
        #expect(limiter.decide("ann", nowMilliseconds: 10) != .allowed)
        #expect(limiter.decide("bob", nowMilliseconds: 10) == .allowed)
    }

    @Test func retryAfterIsTheWaitForTheNextTokenRoundedUp() {
        var limiter = RateLimiter(rule: .init(ratePerSecond: 0.25, burst: 1))
        #expect(limiter.decide("slow", nowMilliseconds: 0) == .allowed)
        #expect(limiter.decide("slow", nowMilliseconds: 0) == .limited(retryAfterSeconds: 4))
        #expect(limiter.decide("slow", nowMilliseconds: 2_500) == .limited(retryAfterSeconds: 2))
        #expect(limiter.decide("slow", nowMilliseconds: 4_000) == .allowed)
    }

    @Test func theTableIsBoundedAndDropsOnlyRefilledKeys() {
        var limiter = RateLimiter(rule: .init(ratePerSecond: 1, burst: 2), keysMax: 2)
        #expect(limiter.decide("a", nowMilliseconds: 0) == .allowed)
        #expect(limiter.decide("b", nowMilliseconds: 0) == .allowed)
        // Full of keys still refilling: a third key is let through untracked.
        #expect(limiter.decide("c", nowMilliseconds: 100) == .allowed)
        #expect(limiter.trackedKeys == 2)
        // At 500 ms "a" spends again (1.5 tokens, then 0.5); at 1 s "b" is full again and is dropped
        // to make room for "c", while "a", still refilling, is kept.
        #expect(limiter.decide("a", nowMilliseconds: 500) == .allowed)
        #expect(limiter.decide("c", nowMilliseconds: 1_000) == .allowed)
        #expect(limiter.trackedKeys == 2)
        // "a" kept its bucket (one token at 1 s): two more calls at once exceed it.
        #expect(limiter.decide("a", nowMilliseconds: 1_000) == .allowed)
        #expect(limiter.decide("a", nowMilliseconds: 1_000) != .allowed)
    }
}
