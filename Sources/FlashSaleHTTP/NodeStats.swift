import FlashSaleCore
import Synchronization

/// What the status page shows of this node: its answers per second over the last ten seconds by
/// kind, and the SKUs it has been asked to reserve most lately.
final class NodeStats: Sendable {
    struct Rates: Sendable {
        var requests = 0.0
        var serverErrors = 0.0
        var rateLimited = 0.0
    }

    /// Answers in one whole second of the monotonic clock.
    private struct Second {
        var second: Int64 = -1
        var requests = 0
        var serverErrors = 0
        var rateLimited = 0
    }

    private static let windowSeconds = 10
    private let state = Mutex((seconds: [Second](repeating: Second(), count: NodeStats.windowSeconds + 1), hot: HotSKUs()))
    private let clock = ElapsedMilliseconds()

    func answered(status: Int) {
        let second = self.clock.now / 1000
        self.state.withLock { state in
            let slot = Int(second % Int64(state.seconds.count))
            if state.seconds[slot].second != second { state.seconds[slot] = Second(second: second) }
            state.seconds[slot].requests += 1
            if status >= 500 { state.seconds[slot].serverErrors += 1 }
            if status == 429 { state.seconds[slot].rateLimited += 1 }
        }
    }

    func reserving(_ sku: String) {
        let now = self.clock.now
        self.state.withLock { $0.hot.record(sku, nowMilliseconds: now) }
    }

    /// Answers per second over the last ten whole seconds, and the `hotCount` hottest SKUs.
    func read(hotCount: Int) -> (rates: Rates, hot: [(sku: String, score: Double)]) {
        let now = self.clock.now
        let current = now / 1000
        // Before ten seconds have passed, the rate is over the seconds there were.
        let window = Double(max(1, min(Int64(Self.windowSeconds), current)))
        return self.state.withLock { state in
            var rates = Rates()
            for second in state.seconds where second.second >= current - Int64(Self.windowSeconds) && second.second < current {
                rates.requests += Double(second.requests) / window
                rates.serverErrors += Double(second.serverErrors) / window
                rates.rateLimited += Double(second.rateLimited) / window
            }
            return (rates, state.hot.top(hotCount, nowMilliseconds: now))
        }
    }
}
