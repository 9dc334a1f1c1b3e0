/// When an open-loop load sends: request i at `i / rate` seconds after the start, whatever became
/// of the requests before it, so a slow answer never lowers the offered load. Latency is then
/// counted from the scheduled instant, not from when a connection was free to send it, so a
/// server that falls behind shows its backlog in the figures (no coordinated omission).
public struct OpenLoopSchedule: Sendable, Hashable {
    public let ratePerSecond: Double
    public let count: Int

    public init(ratePerSecond: Double, duration: Duration) {
        precondition(ratePerSecond > 0 && duration > .zero)
        self.ratePerSecond = ratePerSecond
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        self.count = max(1, Int((seconds * ratePerSecond).rounded(.down)))
    }

    /// When request `index` is due, from the start.
    public func offset(of index: Int) -> Duration {
        .nanoseconds(Int64((Double(index) * 1e9 / self.ratePerSecond).rounded(.down)))
    }

    /// How many requests are due once `elapsed` has passed since the start.
    public func dueCount(after elapsed: Duration) -> Int {
        guard elapsed >= .zero else { return 0 }
        let nanoseconds = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
        return min(self.count, Int((nanoseconds * self.ratePerSecond / 1e9).rounded(.down)) + 1)
    }
}
