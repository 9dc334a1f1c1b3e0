import FlashSaleCore
import Synchronization

/// Token buckets by key (a user, a client address), with time passed in: each key may make
/// `burst` requests at once and `ratePerSecond` a second after that. The table is bounded: when
/// it is full, keys whose buckets have refilled (they hold no state worth keeping) are dropped,
/// and if that frees nothing, an unknown key is let through untracked (failing open keeps buyers
/// served; the other limiter, by address, still holds).
public struct RateLimiter: Sendable {
    public struct Rule: Sendable, Hashable {
        public var ratePerSecond: Double
        public var burst: Double

        /// A rule of `ratePerSecond`, bursting to twice that (at least one request).
        public init(ratePerSecond: Double, burst: Double? = nil) {
            precondition(ratePerSecond > 0)
            self.ratePerSecond = ratePerSecond
            self.burst = max(1, burst ?? ratePerSecond * 2)
        }
    }

    public enum Decision: Sendable, Hashable {
        case allowed
        /// Refused; a token will be there after this many seconds (rounded up, at least 1).
        case limited(retryAfterSeconds: Int)
    }

    private struct Bucket {
        var tokens: Double
        var updatedMilliseconds: Int64
    }

    public let rule: Rule
    public let keysMax: Int
    private var buckets: [String: Bucket] = [:]

    public init(rule: Rule, keysMax: Int = 100_000) {
        precondition(keysMax >= 1)
        self.rule = rule
        self.keysMax = keysMax
    }

    public var trackedKeys: Int { self.buckets.count }

    public mutating func decide(_ key: String, nowMilliseconds: Int64) -> Decision {
        guard var bucket = self.buckets[key] ?? self.makeRoom(nowMilliseconds: nowMilliseconds) else { return .allowed }
        let elapsedSeconds = Double(max(0, nowMilliseconds - bucket.updatedMilliseconds)) / 1000
        bucket.tokens = min(self.rule.burst, bucket.tokens + elapsedSeconds * self.rule.ratePerSecond)
        bucket.updatedMilliseconds = nowMilliseconds
        let decision: Decision
        if bucket.tokens >= 1 {
            bucket.tokens -= 1
            decision = .allowed
        } else {
            let wait = (1 - bucket.tokens) / self.rule.ratePerSecond
            decision = .limited(retryAfterSeconds: max(1, Int(wait.rounded(.up))))
        }
        self.buckets[key] = bucket
        return decision
    }

    /// A full bucket for a new key, or nil when the table stays full.
    private mutating func makeRoom(nowMilliseconds: Int64) -> Bucket? {
        if self.buckets.count >= self.keysMax {
            let refillMilliseconds = self.rule.burst / self.rule.ratePerSecond * 1000
            self.buckets = self.buckets.filter { _, bucket in
                Double(nowMilliseconds - bucket.updatedMilliseconds) + bucket.tokens / self.rule.ratePerSecond * 1000
                    < refillMilliseconds
            }
        }
        guard self.buckets.count < self.keysMax else { return nil }
        return Bucket(tokens: self.rule.burst, updatedMilliseconds: nowMilliseconds)
    }
}

/// A `RateLimiter` shared by the requests of one node, on the monotonic clock.
final class SharedRateLimiter: Sendable {
    private let limiter: Mutex<RateLimiter>
    private let clock = ElapsedMilliseconds()

    init(_ limiter: RateLimiter) {
        self.limiter = Mutex(limiter)
    }

    func decide(_ key: String) -> RateLimiter.Decision {
        let now = self.clock.now
        return self.limiter.withLock { $0.decide(key, nowMilliseconds: now) }
    }
}
