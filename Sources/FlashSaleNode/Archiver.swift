import FlashSaleCore
import FlashSaleRecord
import FlashSaleRedis
import Logging
import Metrics
import ServiceLifecycle

/// Takes ended sales out of this node's shard: a SKU whose sale has ended (on the shard's clock),
/// whose reservations are all resolved and all in the record as the shard holds them, leaves
/// only its small meta hash in Redis (`archive.lua`); its owner then answers its reservations
/// from the record (`ArchivedRecord`). Each SKU is archived in one atomic, fenced script call, so
/// a node killed between two SKUs, or in the middle of one, leaves each SKU whole or archived.
struct Archiver: Service {
    let store: SKUStore
    let record: ArchivedRecord
    let intervalMilliseconds: Int
    let candidatesPerPass: Int
    let clock: any ServiceClock
    let logger: Logger
    private let warnings = ThrottledWarnings()
    private let archived = Counter(label: "flashsale_archived_skus_total")

    init(
        store: SKUStore,
        record: ArchivedRecord,
        intervalMilliseconds: Int,
        candidatesPerPass: Int = 32,
        clock: any ServiceClock,
        logger: Logger
    ) {
        self.store = store
        self.record = record
        self.intervalMilliseconds = intervalMilliseconds
        self.candidatesPerPass = candidatesPerPass
        self.clock = clock
        self.logger = logger
    }

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await self.pass()
            } catch SaleError.staleMembership {
                // The node has not read the newest membership yet (it just started): the next pass will.
                self.logger.debug("archiving waits for the membership")
            } catch {
                self.warnings.warning(self.logger, "archiving failed", key: "archive", metadata: ["error": "\(error)"])
            }
            let interval = Duration.milliseconds(self.intervalMilliseconds)
            try? await cancelWhenGracefulShutdown { try await self.clock.sleep(for: interval) }
        }
    }

    /// One look at the shard's candidates; returns how many it archived.
    @discardableResult
    func pass() async throws -> Int {
        var count = 0
        for candidate in try await self.store.archivable(limit: self.candidatesPerPass) {
            let flushed = try await self.record.flushState(of: candidate.sku)
            // The record is behind the shard: the syncer has not flushed the SKU's last change.
            guard flushed.inventoryVersion == candidate.version else { continue }
            let outcome = try await self.store.archive(
                candidate.sku, version: candidate.version, recordCount: flushed.reservations, recordVersionSum: flushed.versionSum
            )
            if case .archived = outcome {
                count += 1
                self.archived.increment()
                self.logger.info("archived", metadata: ["sku": "\(candidate.sku)", "version": "\(candidate.version)", "reservations": "\(flushed.reservations)"])
            }
        }
        return count
    }
}
