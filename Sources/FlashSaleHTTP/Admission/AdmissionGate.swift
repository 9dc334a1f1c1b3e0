public import FlashSaleCore
import Metrics
public import ServiceLifecycle
import Synchronization

/// Carries out `AdmissionQueue`'s verdicts for the sale API: a request waits for a place (on a
/// continuation, no thread) and is shed with 503 `unavailable` and Retry-After when none comes
/// within the queue deadline. As a service it wakes at the oldest waiter's deadline to shed it, so
/// a waiter is answered in time even when nothing in flight finishes (a stalled Redis).
public final class AdmissionGate: Service, Sendable {
    private struct State {
        var queue: AdmissionQueue
        var nextID: UInt64 = 0
        var continuations: [UInt64: CheckedContinuation<Bool, Never>] = [:]
        /// Verdicts that came before their waiter stored its continuation.
        var early: [UInt64: Bool] = [:]
    }

    private let state: Mutex<State>
    private let wake = WakeSignal()
    private let clock: any ServiceClock
    private let shed = Counter(label: "flashsale_admission_shed_total")
    private let waited = Counter(label: "flashsale_admission_queued_total")

    public init(settings: AdmissionQueue.Settings, clock: any ServiceClock = SystemClock()) {
        self.state = Mutex(State(queue: AdmissionQueue(settings: settings)))
        self.clock = clock
    }

    public var settings: AdmissionQueue.Settings { self.state.withLock { $0.queue.settings } }
    /// Requests worked on now, and waiting for a place.
    public var load: (inFlight: Int, waiting: Int) { self.state.withLock { ($0.queue.inFlight, $0.queue.waiting) } }

    /// Runs `body` once admitted; throws `SaleError.unavailable` (503, Retry-After) when shed.
    public func withAdmission<Value: Sendable>(_ body: () async throws -> Value) async throws -> Value {
        guard await self.admit() else {
            self.shed.increment()
            throw SaleError.unavailable("this node is at capacity; retry")
        }
        defer { self.finished() }
        return try await body()
    }

    private func admit() async -> Bool {
        let now = self.clock.now
        let (arrival, id, first) = self.state.withLock { state in
            state.nextID += 1
            let arrival = state.queue.arrive(id: state.nextID, now: now)
            return (arrival, state.nextID, state.queue.waiting == 1)
        }
        switch arrival {
        case .start: return true
        case .shed: return false
        case .wait:
            self.waited.increment()
            // The first waiter sets the timer's deadline; later ones' deadlines are later.
            if first { self.wake.ring() }
            return await withCheckedContinuation { continuation in
                let verdict: Bool? = self.state.withLock { state in
                    // The verdict may have come before the continuation was stored.
                    if let early = state.early.removeValue(forKey: id) { return early }
                    state.continuations[id] = continuation
                    return nil
                }
                if let verdict { continuation.resume(returning: verdict) }
            }
        }
    }

    private func finished() {
        let now = self.clock.now
        self.deliver(self.state.withLock { $0.queue.finished(now: now) })
    }

    private func deliver(_ verdicts: [AdmissionQueue.Verdict]) {
        guard !verdicts.isEmpty else { return }
        let resumptions = self.state.withLock { state in
            verdicts.compactMap { verdict -> (CheckedContinuation<Bool, Never>, Bool)? in
                let (id, start) = switch verdict {
                case .start(let id): (id, true)
                case .shed(let id): (id, false)
                }
                guard let continuation = state.continuations.removeValue(forKey: id) else {
                    state.early[id] = start
                    return nil
                }
                return (continuation, start)
            }
        }
        for (continuation, start) in resumptions { continuation.resume(returning: start) }
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let deadline = self.state.withLock { $0.queue.nextDeadline } ?? self.clock.now + .seconds(1)
            try? await cancelWhenGracefulShutdown { await self.wake.wait(until: deadline, on: self.clock) }
            let now = self.clock.now
            self.deliver(self.state.withLock { $0.queue.expire(now: now) })
        }
    }
}
