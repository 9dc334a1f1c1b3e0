/// Milliseconds since this value was made, on the monotonic clock: the time that the pure rate
/// limiter, hot-SKU counter and log throttle are given by their shared wrappers.
public struct ElapsedMilliseconds: Sendable {
    private let origin = ContinuousClock.now

    public init() {}

    public var now: Int64 { (ContinuousClock.now - self.origin).wholeMilliseconds }
}

extension Duration {
    /// The duration in whole milliseconds, rounded down.
    public var wholeMilliseconds: Int64 {
        self.components.seconds * 1000 + self.components.attoseconds / 1_000_000_000_000_000
    }
}
