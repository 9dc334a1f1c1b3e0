import FlashSaleCore
import FlashSaleRedis
import Logging
import ServiceLifecycle

/// Finishes the transfers between buckets that their node left half done (it died, or lost an
/// answer, between taking the units out of the donor and adding them to the recipient): every
/// second, each transfer out of the shards this node serves (its own, and those it has adopted)
/// unfinished for two seconds is delivered again. The recipient adds a transfer's units once
/// whoever delivers it, so racing a live refill, or the donor's node back from the dead, is safe.
struct TransferRecovery: Service {
    static let interval: Duration = .seconds(1)

    let shards: @Sendable () -> [SKUStore]
    let operations: SplitSKUOperations
    let logger: Logger
    /// Longer than a live refill takes between its two halves.
    let unfinishedForMilliseconds: Int64
    let clock: any ServiceClock
    private let warnings = ThrottledWarnings()

    init(
        shards: @escaping @Sendable () -> [SKUStore],
        operations: SplitSKUOperations,
        clock: any ServiceClock,
        logger: Logger,
        unfinishedForMilliseconds: Int64 = 2_000
    ) {
        self.clock = clock
        self.shards = shards
        self.operations = operations
        self.logger = logger
        self.unfinishedForMilliseconds = unfinishedForMilliseconds
    }

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await self.finishUnfinished()
            try? await cancelWhenGracefulShutdown { try await self.clock.sleep(for: Self.interval) }
        }
    }

    func finishUnfinished() async {
        for shard in self.shards() {
            do {
                for (donor, transfer) in try await shard.unfinishedTransfers(olderThanMilliseconds: self.unfinishedForMilliseconds) {
                    let sku = SKUBuckets.sku(of: donor)
                    try await self.operations.deliver(transfer, of: sku)
                    self.logger.info(
                        "finished a transfer between buckets left unfinished",
                        metadata: ["sku": "\(sku)", "from": "\(transfer.donor)", "to": "\(transfer.recipient)", "units": "\(transfer.units)"]
                    )
                }
            } catch {
                self.warnings.warning(self.logger, "cannot finish a transfer between buckets yet", key: "transfer", metadata: ["error": "\(error)"])
            }
        }
    }
}
