import FlashSaleCluster
import FlashSaleCore
import FlashSalePeer
import FlashSaleRedis
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Hands the SKUs of the shards this node serves (its own, and those of gone nodes it adopted)
/// to their new owners while the membership changes: the I/O shell of `HandoffPlan`, one plan per
/// shard. Each move freezes and snapshots the SKU here (`export.lua`), sends the snapshot
/// in chunks to the new owner, which imports it and acknowledges, and only then drops the frozen
/// copy. A move that fails is retried; a crash anywhere loses nothing, because the export is
/// repeatable and the import idempotent. Progress goes to the membership with each heartbeat.
final class Rebalancer: Service, Sendable {
    /// A shard this node serves, named by the node whose shard it is.
    struct Shard: Sendable {
        let nodeID: String
        let store: SKUStore
    }

    private let shards: @Sendable () -> [Shard]
    private let membership: @Sendable () -> Membership?
    private let peers: @Sendable () -> PeerPool?
    private let concurrency: Int
    private let done: @Sendable () -> Void
    private let clock: any ServiceClock
    private let logger: Logger
    private let reported = Mutex<[String: Membership.HandoffReport]>([:])
    /// Rung when the membership changes: the runner otherwise sleeps until a move's retry is due.
    private let wake = WakeSignal()
    /// How soon a shard whose SKUs could not be listed is looked at again.
    private static let listingRetry = Duration.milliseconds(200)
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

    /// `shards`: this node's own shard first, then any it adopted. `done` is called when a shard
    /// has nothing more to move under the current epoch.
    init(
        shards: @escaping @Sendable () -> [Shard],
        membership: @escaping @Sendable () -> Membership?,
        peers: @escaping @Sendable () -> PeerPool?,
        concurrency: Int,
        done: @escaping @Sendable () -> Void,
        clock: any ServiceClock = SystemClock(),
        logger: Logger
    ) {
        self.clock = clock
        self.shards = shards
        self.membership = membership
        self.peers = peers
        self.concurrency = concurrency
        self.done = done
        self.logger = logger
    }

    /// The handoffs of each shard this node serves, by the node whose shard it is, under the
    /// epoch last planned for.
    var reports: [String: Membership.HandoffReport] { self.reported.withLock { $0 } }

    /// This node took a new membership epoch: plan again now.
    func membershipChanged() {
        self.wake.ring()
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Completion.self) { group in
                var works: [String: Work] = [:]
                /// The deadline of the wake-up waiting in the group, if one is.
                var wakingAt: ContinuousClock.Instant?
                while !Task.isCancelled {
                    let shards = self.shards()
                    let served = Set(shards.map(\.nodeID))
                    works = works.filter { served.contains($0.key) }
                    self.reported.withLock { reports in reports = reports.filter { served.contains($0.key) } }
                    var deadlines: [ContinuousClock.Instant] = []
                    for shard in shards {
                        let planned: Work?
                        do {
                            planned = try await self.plan(works[shard.nodeID], shard)
                        } catch {
                            self.logger.warning("cannot list a shard's SKUs to hand over", metadata: ["shard": "\(shard.nodeID)", "error": "\(error)"])
                            deadlines.append(self.clock.now + Self.listingRetry)
                            continue
                        }
                        guard var work = planned else { continue }
                        let epoch = work.plan.epoch
                        let now = self.clock.now
                        for move in work.plan.start(now: now) {
                            group.addTask { .moved(shard.nodeID, move.sku, epoch: epoch, await self.move(move, epoch: epoch, from: shard)) }
                        }
                        if let next = work.plan.nextStart(now: now) { deadlines.append(next) }
                        works[shard.nodeID] = work
                    }
                    // Nothing to retry: sleep until the membership changes (an hour at most).
                    let deadline = deadlines.min() ?? self.clock.now + .seconds(3600)
                    if let wakingAt {
                        if deadline < wakingAt { self.wake.ring() }
                    } else {
                        wakingAt = deadline
                        group.addTask {
                            await self.wake.wait(until: deadline, on: self.clock)
                            return .woken
                        }
                    }
                    switch await group.next() {
                    case .moved(let nodeID, let sku, let epoch, let succeeded)?:
                        if succeeded { self.movedCounter.increment() } else { self.failedCounter.increment() }
                        // A move started under an earlier plan's epoch counts for nothing in this one.
                        guard var work = works[nodeID], work.plan.epoch == epoch else { break }
                        if succeeded { work.plan.completed(sku) } else { work.plan.failed(sku, now: self.clock.now) }
                        works[nodeID] = work
                        self.publish(work, for: nodeID)
                    case .woken?, nil:
                        wakingAt = nil
                    }
                }
                group.cancelAll()
            }
        }
    }

    private enum Completion: Sendable {
        case moved(String, String, epoch: Int64, Bool)
        case woken
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
    /// Throws when the shard's SKUs cannot be listed; the work so far stands.
    private func plan(_ work: Work?, _ shard: Shard) async throws -> Work? {
        guard let membership = self.membership() else { return work }
        if let work, work.plan.epoch == membership.epoch, !work.plan.progress.isDone || work.isFinished {
            return work
        }
        var skus: [String] = []
        if membership.isRebalancing {
            skus = try await shard.store.heldSKUs()
        }
        let sameEpoch = work.flatMap { $0.plan.epoch == membership.epoch ? $0 : nil }
        let next = Work(
            plan: HandoffPlan(node: shard.nodeID, skus: skus, membership: membership, concurrency: self.concurrency),
            earlier: sameEpoch?.progress,
            startedAt: sameEpoch?.startedAt ?? self.clock.now
        )
        if next.plan.progress.toMove > 0 {
            self.logger.info(
                "handing SKUs over",
                metadata: ["shard": "\(shard.nodeID)", "epoch": "\(membership.epoch)", "toMove": "\(next.plan.progress.toMove)"]
            )
        }
        self.publish(next, for: shard.nodeID)
        return next
    }

    private func publish(_ work: Work, for nodeID: String) {
        let progress = work.progress
        let report = Membership.HandoffReport(
            epoch: work.plan.epoch,
            toMove: Int64(progress.toMove),
            moved: Int64(progress.moved),
            failedAttempts: Int64(progress.failedAttempts),
            isFinished: work.isFinished
        )
        self.reported.withLock { $0[nodeID] = report }
        guard report.isFinished else { return }
        if report.moved > 0 { self.lastChangeGauge.record(Self.seconds(self.clock.now - work.startedAt)) }
        self.done()
    }

    /// One SKU: freeze and snapshot here, send, and drop the frozen copy once the new owner has it.
    private func move(_ move: HandoffPlan.Move, epoch: Int64, from shard: Shard) async -> Bool {
        // To the node that serves the new owner's shard: the owner, or the survivor that adopted it.
        guard let membership = self.membership(), membership.epoch == epoch, let owner = membership.node(move.to),
            case let server = membership.server(of: owner), let endpoint = PeerEndpoint(nodeID: server.id, address: server.peerAddress),
            let peers = self.peers()
        else { return false }
        let exportedAt = self.clock.now
        do {
            guard case .snapshot(let snapshot) = try await shard.store.exportForHandoff(move.sku) else {
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
                    self.recordFreeze(self.clock.now - frozenAt)
                    self.frozenSince.withLock { $0[move.sku] = nil }
                    try await shard.store.finishHandoff(move.sku)
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
