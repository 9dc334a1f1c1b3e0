/// The one way a long-running service reads the time and waits: the monotonic system clock in
/// production (`SystemClock`), a clock the test moves by hand in tests (FlashSaleTesting's
/// `ManualClock`), so that no test waits for real time to pass and no service reads a clock of
/// its own. Instants are `ContinuousClock.Instant`s, which the pure machines already take.
public protocol ServiceClock: Sendable {
    var now: ContinuousClock.Instant { get }
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

    public func sleep(until deadline: ContinuousClock.Instant) async throws {
        try await Task.sleep(until: deadline, clock: .continuous)
    }
}
