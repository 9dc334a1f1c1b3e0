import Foundation

/// A thread of its own that drains a bounded queue in batches.
///
/// Blocking C clients (hiredis, libpq) run here, never on an event loop or Swift's cooperative pool.
/// While the thread is busy with one batch, new jobs pile up and become the next batch: under load,
/// many concurrent requests share one round trip without any timer.
public final class BatchingThread<Job: Sendable>: @unchecked Sendable {
    public enum SubmitError: Error, Sendable, Hashable {
        /// `queueCapacity` jobs are already waiting: refuse rather than grow.
        case queueFull
        case stopped
    }

    public let queueCapacity: Int
    public let batchSizeMax: Int

    private let name: String
    private let process: @Sendable ([Job]) -> Void
    // Guards `pending`, `state` and wakes the thread.
    private let condition = NSCondition()
    private var pending: [Job] = []
    private var state: State = .idle
    private var stopWaiters: [CheckedContinuation<Void, Never>] = []

    private enum State { case idle, running, stopping, stopped }

    /// - Parameter process: runs on the thread with up to `batchSizeMax` jobs, oldest first; it must answer every job.
    public init(name: String, queueCapacity: Int, batchSizeMax: Int, process: @escaping @Sendable ([Job]) -> Void) {
        precondition(queueCapacity >= 1 && batchSizeMax >= 1)
        self.name = name
        self.queueCapacity = queueCapacity
        self.batchSizeMax = batchSizeMax
        self.process = process
    }

    public func start() {
        self.condition.lock()
        defer { self.condition.unlock() }
        precondition(self.state == .idle, "BatchingThread \(self.name) started twice")
        self.state = .running
        let thread = Thread { self.runLoop() }
        thread.name = self.name
        thread.start()
    }

    public func submit(_ job: Job) throws(SubmitError) {
        self.condition.lock()
        defer { self.condition.unlock() }
        guard self.state == .running else { throw .stopped }
        guard self.pending.count < self.queueCapacity else { throw .queueFull }
        self.pending.append(job)
        self.condition.signal()
    }

    /// Jobs waiting now.
    public var queueDepth: Int {
        self.condition.lock()
        defer { self.condition.unlock() }
        return self.pending.count
    }

    /// Refuses new jobs, lets the thread process every job already queued, and resumes once it has exited.
    public func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            self.condition.lock()
            switch self.state {
            case .idle, .stopped:
                self.state = .stopped
                self.condition.unlock()
                continuation.resume()
            case .running, .stopping:
                self.state = .stopping
                self.stopWaiters.append(continuation)
                self.condition.signal()
                self.condition.unlock()
            }
        }
    }

    private func runLoop() {
        while let batch = self.nextBatch() {
            self.process(batch)
        }
        self.condition.lock()
        self.state = .stopped
        let waiters = self.stopWaiters
        self.stopWaiters = []
        self.condition.unlock()
        for waiter in waiters { waiter.resume() }
    }

    /// Blocks until there is work; nil once stopping and drained.
    private func nextBatch() -> [Job]? {
        self.condition.lock()
        defer { self.condition.unlock() }
        while self.pending.isEmpty {
            if self.state == .stopping { return nil }
            self.condition.wait()
        }
        if self.pending.count <= self.batchSizeMax {
            var batch: [Job] = []
            swap(&batch, &self.pending)
            return batch
        }
        let batch = Array(self.pending.prefix(self.batchSizeMax))
        self.pending.removeFirst(self.batchSizeMax)
        return batch
    }
}
