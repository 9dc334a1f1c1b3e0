/// Milliseconds since this value was made, on the monotonic clock: the time that the pure rate
/// limiter, hot-SKU counter and log throttle are given by their shared wrappers.
public struct ElapsedMilliseconds: Sendable {
    private let origin = ContinuousClock.now

    public init() {}

    public var now: Int64 {
        let elapsed = ContinuousClock.now - self.origin
        return elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
    }
}
