import Synchronization

/// When the client reads the ring again, decided without I/O: when it has none, when an answer
/// named a newer epoch, or when a node stopped answering (its SKUs may be adopted); one read at a
/// time, and not more often than `readInterval` while reads fail or find nothing new, so that a
/// cluster in trouble is not also flooded with `GET /v1/cluster`.
struct DirectoryFreshness: Sendable, Hashable {
    enum Decision: Sendable, Hashable {
        /// The ring held is the best there is now.
        case use
        /// Read the ring; report with `finished`.
        case read
        /// A read is under way: wait for it.
        case awaitRead
    }

    let readInterval: Duration
    private(set) var epochHeld: Int64?
    private var newestEpochSeen: Int64 = 0
    private var isStale = false
    private var isReading = false
    private var lastReadStart: ContinuousClock.Instant?

    init(readInterval: Duration = .seconds(1)) {
        self.readInterval = readInterval
    }

    mutating func decide(now: ContinuousClock.Instant) -> Decision {
        if self.isReading { return .awaitRead }
        let wanted = self.epochHeld == nil || self.isStale || self.newestEpochSeen > (self.epochHeld ?? 0)
        guard wanted else { return .use }
        if let last = self.lastReadStart, now - last < self.readInterval { return .use }
        self.isReading = true
        self.lastReadStart = now
        return .read
    }

    /// An answer named the epoch its node routes by.
    mutating func observe(epoch: Int64) {
        self.newestEpochSeen = max(self.newestEpochSeen, epoch)
    }

    /// A node did not answer: the ring may have moved on without a new epoch (an adoption).
    mutating func markStale() {
        self.isStale = true
    }

    /// The read ended with a ring of `epoch`, or with none. Returns whether to take it: an older
    /// ring than the one held is not.
    mutating func finished(epoch: Int64?) -> Bool {
        self.isReading = false
        guard let epoch else { return false }
        guard epoch >= (self.epochHeld ?? 0) else { return false }
        self.epochHeld = epoch
        self.isStale = false
        return true
    }
}

/// The ring the client routes by, read again as `DirectoryFreshness` decides.
final class DirectoryCache: Sendable {
    private struct State {
        var freshness = DirectoryFreshness()
        var directory: OwnerDirectory?
        var read: Task<OwnerDirectory?, Never>?
    }

    private let state = Mutex(State())

    var current: OwnerDirectory? { self.state.withLock { $0.directory } }

    func observe(epoch: Int64) {
        self.state.withLock { $0.freshness.observe(epoch: epoch) }
    }

    func markStale() {
        self.state.withLock { $0.freshness.markStale() }
    }

    /// The ring to route by now, read first when it is missing or out of date.
    func fresh(read: @escaping @Sendable () async -> OwnerDirectory?) async -> OwnerDirectory? {
        enum Step {
            case use(OwnerDirectory?)
            case wait(Task<OwnerDirectory?, Never>)
        }
        let step: Step = self.state.withLock { state in
            switch state.freshness.decide(now: .now) {
            case .use:
                return .use(state.directory)
            case .awaitRead:
                return state.read.map { .wait($0) } ?? .use(state.directory)
            case .read:
                let task = Task { [weak self] () -> OwnerDirectory? in
                    let directory = await read()
                    return self?.finished(directory) ?? directory
                }
                state.read = task
                return .wait(task)
            }
        }
        switch step {
        case .use(let directory): return directory
        case .wait(let task): return await task.value
        }
    }

    private func finished(_ read: OwnerDirectory?) -> OwnerDirectory? {
        self.state.withLock { state in
            state.read = nil
            if state.freshness.finished(epoch: read?.epoch) { state.directory = read }
            return state.directory
        }
    }
}
