/// Admission control for the sale API as a pure state machine, with time passed in: at most
/// `inFlightMax` requests are worked on at once, at most `waitingMax` wait for a place, and none
/// waits longer than `queueDeadline`. A request that cannot start in time is shed (503 with
/// Retry-After) rather than answered late: in a herd of buyers far past the node's capacity, a fast
/// "try again" serves a buyer better than a slow answer, and what the node does start it finishes
/// quickly because the queue ahead of Redis stays short.
///
/// Waiters start in the order they came (FIFO); the oldest is shed first, as its deadline is first.
/// `AdmissionGate` carries the verdicts out and wakes at `nextDeadline`.
public struct AdmissionQueue: Sendable {
    public struct Settings: Sendable, Hashable {
        public var inFlightMax: Int
        public var waitingMax: Int
        public var queueDeadline: Duration

        public init(inFlightMax: Int = 512, waitingMax: Int = 4096, queueDeadline: Duration = .milliseconds(50)) {
            precondition(inFlightMax >= 1 && waitingMax >= 0 && queueDeadline >= .zero)
            self.inFlightMax = inFlightMax
            self.waitingMax = waitingMax
            self.queueDeadline = queueDeadline
        }
    }

    public enum Arrival: Sendable, Hashable {
        /// Work on it now (it holds a place until `finished`).
        case start
        /// Queued: a later verdict starts or sheds it.
        case wait
        /// The queue is full: answer 503 at once.
        case shed
    }

    public enum Verdict: Sendable, Hashable {
        case start(id: UInt64)
        case shed(id: UInt64)
    }

    private struct Waiter: Sendable, Hashable {
        var id: UInt64
        var arrivedAt: ContinuousClock.Instant
    }

    public let settings: Settings
    public private(set) var inFlight = 0
    /// FIFO: `waiters[head...]` wait, oldest first (the array is compacted as the head moves on).
    private var waiters: [Waiter] = []
    private var head = 0

    public init(settings: Settings) {
        self.settings = settings
    }

    public var waiting: Int { self.waiters.count - self.head }

    /// When the oldest waiter's time is up: the runner must call `expire` then.
    public var nextDeadline: ContinuousClock.Instant? {
        self.head < self.waiters.count ? self.waiters[self.head].arrivedAt + self.settings.queueDeadline : nil
    }

    public mutating func arrive(id: UInt64, now: ContinuousClock.Instant) -> Arrival {
        if self.inFlight < self.settings.inFlightMax && self.waiting == 0 {
            self.inFlight += 1
            return .start
        }
        guard self.waiting < self.settings.waitingMax else { return .shed }
        self.waiters.append(Waiter(id: id, arrivedAt: now))
        return .wait
    }

    /// A started request answered: its place goes to the oldest waiter still within its deadline;
    /// waiters found past it on the way are shed.
    public mutating func finished(now: ContinuousClock.Instant) -> [Verdict] {
        precondition(self.inFlight > 0, "finished without a started request")
        self.inFlight -= 1
        var verdicts: [Verdict] = []
        while self.inFlight < self.settings.inFlightMax, let waiter = self.popOldest() {
            if now - waiter.arrivedAt >= self.settings.queueDeadline {
                verdicts.append(.shed(id: waiter.id))
            } else {
                self.inFlight += 1
                verdicts.append(.start(id: waiter.id))
            }
        }
        return verdicts
    }

    /// Sheds every waiter whose deadline has come (the oldest first).
    public mutating func expire(now: ContinuousClock.Instant) -> [Verdict] {
        var verdicts: [Verdict] = []
        while self.head < self.waiters.count, now - self.waiters[self.head].arrivedAt >= self.settings.queueDeadline {
            verdicts.append(.shed(id: self.popOldest()!.id))
        }
        return verdicts
    }

    private mutating func popOldest() -> Waiter? {
        guard self.head < self.waiters.count else { return nil }
        let waiter = self.waiters[self.head]
        self.head += 1
        if self.head == self.waiters.count {
            self.waiters.removeAll(keepingCapacity: true)
            self.head = 0
        } else if self.head >= 1024 && self.head * 2 >= self.waiters.count {
            self.waiters.removeFirst(self.head)
            self.head = 0
        }
        return waiter
    }
}
