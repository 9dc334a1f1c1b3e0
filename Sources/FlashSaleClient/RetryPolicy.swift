/// When a call that got no answer, or a 503, is tried again (with the same requestId, so that a
/// reservation is never made twice): up to `attemptsMax` tries within `timeBudget`, waiting
/// between tries an exponentially growing, jittered delay, and at least what the node asked for in
/// `Retry-After`. Pure: the client passes in the time spent and a random number.
public struct RetryPolicy: Sendable, Hashable {
    public var attemptsMax: Int
    /// From the first try's start; no try starts after it.
    public var timeBudget: Duration
    public var firstDelay: Duration
    public var delayMax: Duration

    public init(attemptsMax: Int = 8, timeBudget: Duration = .seconds(15), firstDelay: Duration = .milliseconds(50), delayMax: Duration = .seconds(2)) {
        precondition(attemptsMax >= 1 && timeBudget > .zero && firstDelay >= .zero && delayMax >= firstDelay)
        self.attemptsMax = attemptsMax
        self.timeBudget = timeBudget
        self.firstDelay = firstDelay
        self.delayMax = delayMax
    }

    /// One try and no retry.
    public static let never = RetryPolicy(attemptsMax: 1)

    /// The wait before the next try after try number `attempt` (from 1) failed in a way worth
    /// retrying, or nil when the tries or the time are spent. `jitter` is uniform in [0, 1): the
    /// backoff is drawn from its upper half, so that clients turned away together do not return
    /// together.
    public func delay(afterAttempt attempt: Int, elapsed: Duration, retryAfter: Duration?, jitter: Double) -> Duration? {
        guard attempt < self.attemptsMax else { return nil }
        let doubling = min(attempt - 1, 30)
        let backoff = min(self.delayMax, self.firstDelay * (1 << doubling))
        let jittered = backoff * (0.5 + jitter / 2)
        let delay = max(jittered, retryAfter ?? .zero)
        guard elapsed + delay < self.timeBudget else { return nil }
        return delay
    }
}
