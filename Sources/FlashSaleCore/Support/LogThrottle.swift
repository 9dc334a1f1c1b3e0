public import Logging
import Synchronization

/// At most one log line per key per interval (time passed in): a failure that repeats on every
/// call, such as a Redis shard that is down under load, writes one line a second saying how many
/// it stands for, instead of thousands. At most `keysMax` keys (they are message kinds, a few).
public struct LogThrottle: Sendable {
    public let intervalMilliseconds: Int64
    public let keysMax: Int
    private var keys: [String: (loggedAt: Int64, suppressed: Int)] = [:]

    public init(intervalMilliseconds: Int64 = 1000, keysMax: Int = 1000) {
        self.intervalMilliseconds = intervalMilliseconds
        self.keysMax = keysMax
    }

    /// nil: leave this one out; otherwise write it, noting how many were left out since the last.
    public mutating func admit(_ key: String, nowMilliseconds: Int64) -> Int? {
        if let entry = self.keys[key], nowMilliseconds - entry.loggedAt < self.intervalMilliseconds {
            self.keys[key]?.suppressed += 1
            return nil
        }
        if self.keys[key] == nil, self.keys.count >= self.keysMax { self.keys.removeAll() }
        let suppressed = self.keys[key]?.suppressed ?? 0
        self.keys[key] = (nowMilliseconds, 0)
        return suppressed
    }
}

/// A `LogThrottle` on the monotonic clock for one component's warnings.
public final class ThrottledWarnings: Sendable {
    private let throttle: Mutex<LogThrottle>
    private let clock = ElapsedMilliseconds()

    public init(intervalMilliseconds: Int64 = 1000) {
        self.throttle = Mutex(LogThrottle(intervalMilliseconds: intervalMilliseconds))
    }

    /// Logs `message` at warning level unless one of the same key was logged within the interval;
    /// the line says how many were left out before it.
    public func warning(_ logger: Logger, _ message: Logger.Message, key: String, metadata: Logger.Metadata = [:]) {
        let now = self.clock.now
        guard let suppressed = self.throttle.withLock({ $0.admit(key, nowMilliseconds: now) }) else { return }
        var metadata = metadata
        if suppressed > 0 { metadata["suppressedSinceLast"] = "\(suppressed)" }
        logger.warning(message, metadata: metadata)
    }
}
