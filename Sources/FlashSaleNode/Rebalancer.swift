import FlashSaleCluster
import FlashSaleCore
import FlashSalePeer
import FlashSaleRedis
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Hands this node's SKUs to their new owners while the membership changes: the I/O shell of
/// `HandoffPlan`. Each move freezes and snapshots the SKU here (`export.lua`), sends the snapshot
/// in chunks to the new owner, which imports it and acknowledges, and only then drops the frozen
/// copy. A move that fails is retried; a crash anywhere loses nothing, because the export is
/// repeatable and the import idempotent. Progress goes to the membership with each heartbeat.
final class Rebalancer: Service, Sendable {
    private let nodeID: String
    private let store: SKUStore
    private let membership: @Sendable () -> Membership?
    private let peers: @Sendable () -> PeerPool?
    private let concurrency: Int
    private let done: @Sendable () -> Void
    private let logger: Logger
    private let reported = Mutex<Membership.HandoffReport?>(nil)
    private let movedCounter = Counter(label: "flashsale_handoff_skus_moved_total")
    private let failedCounter = Counter(label: "flashsale_handoff_failed_attempts_total")
    /// The longest a SKU of this node was frozen (from its export until the new owner had it):
    /// the longest a SKU was unavailable during a change, as this node saw it.
    private let longestFreeze = Mutex<Duration>(.zero)
    /// When each SKU in a move was first frozen here: a move retried after a failure counts from then.
    private let frozenSince = Mutex<[String: ContinuousClock.Instant]>([:])
    private let longestFreezeGauge = Gauge(label: "flashsale_handoff_longest_freeze_seconds")
    /// How long this node took, in the last change that moved any of its SKUs, from its first
    /// plan until it had nothing more to move.
    private let lastChangeGauge = Gauge(label: "flashsale_handoff_last_change_seconds")

    /// `done` is called when this node has nothing more to move under the current epoch.
    init(
        nodeID: String,
        store: SKUStore,
        membership: @escaping @Sendable () -> Membership?,
        peers: @escaping @Sendable () -> PeerPool?,
        concurrency: Int,
        done: @escaping @Sendable () -> Void,
        logger: Logger
    ) {
        self.nodeID = nodeID
        self.store = store
        self.membership = membership
        self.peers = peers
        self.concurrency = concurrency
        self.done = done
        self.logger = logger
    }

    /// This node's handoffs under the epoch it last planned for; nil before the first plan.
    var report: Membership.HandoffReport? { self.reported.withLock { $0 } }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Completion.self) { group in
                var work: Work?
                var ticking = false
                while !Task.isCancelled {
                    work = await self.plan(work)
                    if var current = work {
                        let epoch = current.plan.epoch
                        for move in current.plan.start(now: .now) {
                            group.addTask { .moved(move.sku, epoch: epoch, await self.move(move, epoch: epoch)) }
                        }
                        work = current
                    }
                    if !ticking {
                        ticking = true
                        group.addTask {
                            try? await Task.sleep(for: .milliseconds(100))
                            return .tick
                        }
                    }
                    switch await group.next() {
                    case .moved(let sku, let epoch, let succeeded)?:
                        if succeeded { self.movedCounter.increment() } else { self.failedCounter.increment() }
                        // A move started under an earlier plan's epoch counts for nothing in this one.
                        guard var current = work, current.plan.epoch == epoch else { break }
                        if succeeded { current.plan.completed(sku) } else { current.plan.failed(sku, now: .now) }
                        work = current
                        self.publish(current)
                    case .tick?, nil:
                        ticking = false
                    }
                }
                group.cancelAll()
            }
        }
    }

    private enum Completion: Sendable {
        case moved(String, epoch: Int64, Bool)
        case tick
    }

    /// The plan in progress, and what plans before it under the same epoch moved.
    private struct Work {
        var plan: HandoffPlan
        var earlier: HandoffPlan.Progress?
        /// When the first plan under this epoch was made.
        var startedAt: ContinuousClock.Instant

        var progress: HandoffPlan.Progress {
            guard let earlier else { return self.plan.progress }
            let current = self.plan.progress
            return .init(
                toMove: earlier.toMove + current.toMove,
                moved: earlier.moved + current.moved,
                moving: current.moving,
                failedAttempts: earlier.failedAttempts + current.failedAttempts
            )
        }

        /// Every move made, and the last look at the shard found nothing more to move.
        var isFinished: Bool { self.plan.progress.isDone && self.plan.progress.toMove == 0 }
    }

    /// Keeps the plan in step with the membership: a new plan for a new epoch; once a plan's moves
    /// are made, one more look at the shard, since a call that started under the old epoch may have
    /// created a SKU here after the plan was made. Finished when a look finds nothing to move.
    private func plan(_ work: Work?) async -> Work? {
        guard let membership = self.membership() else { return work }
        if let work, work.plan.epoch == membership.epoch, !work.plan.progress.isDone || work.isFinished {
            return work
        }
        var skus: [String] = []
        if membership.isRebalancing {
            do {
                skus = try await self.store.heldSKUs()
            } catch {
                self.logger.warning("cannot list the shard's SKUs to hand over", metadata: ["error": "\(error)"])
                return work
            }
        }
        let sameEpoch = work.flatMap { $0.plan.epoch == membership.epoch ? $0 : nil }
        let next = Work(
            plan: HandoffPlan(node: self.nodeID, skus: skus, membership: membership, concurrency: self.concurrency),
            earlier: sameEpoch?.progress,
            startedAt: sameEpoch?.startedAt ?? .now
        )
        if next.plan.progress.toMove > 0 {
            self.logger.info("handing SKUs over", metadata: ["epoch": "\(membership.epoch)", "toMove": "\(next.plan.progress.toMove)"])
        }
        self.publish(next)
        return next
    }

    private func publish(_ work: Work) {
        let progress = work.progress
        let report = Membership.HandoffReport(
            epoch: work.plan.epoch,
            toMove: Int64(progress.toMove),
            moved: Int64(progress.moved),
            failedAttempts: Int64(progress.failedAttempts),
            isFinished: work.isFinished
        )
        self.reported.withLock { $0 = report }
        guard report.isFinished else { return }
        if report.moved > 0 { self.lastChangeGauge.record(Self.seconds(ContinuousClock.now - work.startedAt)) }
        self.done()
    }

    /// One SKU: freeze and snapshot here, send, and drop the frozen copy once the new owner has it.
    private func move(_ move: HandoffPlan.Move, epoch: Int64) async -> Bool {
        guard let membership = self.membership(), membership.epoch == epoch,
            let owner = membership.node(move.to), let endpoint = PeerEndpoint(nodeID: owner.id, address: owner.peerAddress),
            let peers = self.peers()
        else { return false }
        let exportedAt = ContinuousClock.now
        do {
            guard case .snapshot(let snapshot) = try await self.store.exportForHandoff(move.sku) else {
                // Never here, or already handed over and acknowledged.
                return true
            }
            let frozenAt = self.frozenSince.withLock { since in
                let at = since[move.sku] ?? exportedAt
                since[move.sku] = at
                return at
            }
            for chunk in HandoffChunk.split(snapshot, senderEpoch: epoch) {
                switch try await peers.handOff(chunk, to: endpoint).outcome {
                case .continueFrom:
                    continue
                case .imported:
                    self.recordFreeze(ContinuousClock.now - frozenAt)
                    self.frozenSince.withLock { $0[move.sku] = nil }
                    try await self.store.finishHandoff(move.sku)
                    return true
                case .refused(let why):
                    self.logger.info("a handoff was refused", metadata: ["sku": "\(move.sku)", "to": "\(move.to)", "reason": "\(why)"])
                    return false
                }
            }
            return false
        } catch {
            self.logger.info("a handoff failed", metadata: ["sku": "\(move.sku)", "to": "\(move.to)", "error": "\(error)"])
            return false
        }
    }

    private func recordFreeze(_ duration: Duration) {
        let longest = self.longestFreeze.withLock { longest in
            longest = max(longest, duration)
            return longest
        }
        self.longestFreezeGauge.record(Self.seconds(longest))
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
