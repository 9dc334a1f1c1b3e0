import Glibc

/// The one way a long-running service reads the time and waits: the monotonic system clock in
/// production (`SystemClock`), a clock the test moves by hand in tests (FlashSaleTesting's
/// `ManualClock`), so that no test waits for real time to pass and no service reads a clock of
/// its own. Instants are `ContinuousClock.Instant`s, which the pure machines already take.
public protocol ServiceClock: Sendable {
    var now: ContinuousClock.Instant { get }
    /// Milliseconds since 1970 on the wall clock: only for comparing with instants another clock
    /// wrote down (the syncer's lag against the outbox's Redis timestamps), never for deadlines.
    var unixMilliseconds: Int64 { get }
    /// Returns once the clock has reached `deadline`; throws `CancellationError` when the task is
    /// cancelled first.
    func sleep(until deadline: ContinuousClock.Instant) async throws
}

extension ServiceClock {
    public func sleep(for duration: Duration) async throws {
        try await self.sleep(until: self.now + duration)
    }
}

/// The system's monotonic clock.
public struct SystemClock: ServiceClock {
    public init() {}

    public var now: ContinuousClock.Instant { .now }

    public var unixMilliseconds: Int64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Int64(time.tv_sec) * 1000 + Int64(time.tv_nsec) / 1_000_000
    }

    public func sleep(until deadline: ContinuousClock.Instant) async throws {
        try await Task.sleep(until: deadline, clock: .continuous)
    }
}
