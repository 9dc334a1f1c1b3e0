/// Milliseconds since this value was made, on the monotonic clock: the time that the pure rate
/// limiter and hot-SKU counter are given by their shared wrappers.
struct ElapsedMilliseconds: Sendable {
    private let origin = ContinuousClock.now

    var now: Int64 {
        let elapsed = ContinuousClock.now - self.origin
        return elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
    }
}
