public import FlashSaleCore
import Synchronization

/// A `ServiceClock` that moves only when the test says so: `advance(by:)` wakes every sleeper
/// whose deadline it passes, in deadline order. `sleepers` lets a test wait until a service has
/// gone to sleep before it moves the clock, so a test never depends on real time.
public final class ManualClock: ServiceClock {
    private struct Sleeper {
        var id: UInt64
        var deadline: ContinuousClock.Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: ContinuousClock.Instant
        var unixMilliseconds: Int64
        var nextID: UInt64 = 0
        var sleepers: [Sleeper] = []
    }

    private let state: Mutex<State>

    public init(now: ContinuousClock.Instant = .now, unixMilliseconds: Int64 = 1_800_000_000_000) {
        self.state = Mutex(State(now: now, unixMilliseconds: unixMilliseconds))
    }

    public var now: ContinuousClock.Instant { self.state.withLock { $0.now } }

    /// Starts at the instant given (2027-01-15 by default) and moves with `advance(by:)`.
    public var unixMilliseconds: Int64 { self.state.withLock { $0.unixMilliseconds } }

    /// How many tasks are asleep on this clock now.
    public var sleepers: Int { self.state.withLock { $0.sleepers.count } }

    public func sleep(until deadline: ContinuousClock.Instant) async throws {
        let id = self.state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow: Bool? = self.state.withLock { state in
                    if Task.isCancelled { return false }
                    if deadline <= state.now { return true }
                    state.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    return nil
                }
                switch resumeNow {
                case true?: continuation.resume()
                case false?: continuation.resume(throwing: CancellationError())
                case nil: break
                }
            }
        } onCancel: {
            let cancelled = self.state.withLock { state -> Sleeper? in
                guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.sleepers.remove(at: index)
            }
            cancelled?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves the clock forward and wakes the sleepers whose deadline has come.
    public func advance(by duration: Duration) {
        let due = self.state.withLock { state -> [Sleeper] in
            state.now = state.now + duration
            state.unixMilliseconds += Int64(duration / .milliseconds(1))
            let now = state.now
            let due = state.sleepers.filter { $0.deadline <= now }.sorted { $0.deadline < $1.deadline }
            state.sleepers.removeAll { $0.deadline <= now }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// Waits (on real time, briefly yielding) until at least `count` tasks sleep on this clock;
    /// false when that did not happen within `attempts` yields of 1 ms each.
    public func waitForSleepers(_ count: Int = 1, attempts: Int = 5_000) async -> Bool {
        for _ in 0..<attempts {
            if self.sleepers >= count { return true }
            try? await Task.sleep(for: .milliseconds(1))
        }
        return self.sleepers >= count
    }
}
