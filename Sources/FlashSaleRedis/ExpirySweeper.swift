public import FlashSaleCore
public import Logging
public import ServiceLifecycle

/// Returns the stock of reservations whose time is up even when no request touches their SKU.
/// The scripts also expire lazily, so the sweeper only bounds how long stale stock stays held.
public struct ExpirySweeper: Service {
    public var intervalMilliseconds: Int
    public var skusPerCall: Int
    public var reservationsPerSKU: Int
    private let store: SKUStore
    private let logger: Logger
    private let warnings = ThrottledWarnings()
    private let clock: any ServiceClock

    public init(
        store: SKUStore,
        intervalMilliseconds: Int = 250,
        skusPerCall: Int = 64,
        reservationsPerSKU: Int = 256,
        clock: any ServiceClock = SystemClock(),
        logger: Logger
    ) {
        self.store = store
        self.clock = clock
        self.intervalMilliseconds = intervalMilliseconds
        self.skusPerCall = skusPerCall
        self.reservationsPerSKU = reservationsPerSKU
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            var expired = 0
            do {
                expired = try await self.store.sweep(
                    skusPerCall: self.skusPerCall,
                    reservationsPerSKU: self.reservationsPerSKU
                )
                if expired > 0 { self.logger.debug("expired reservations", metadata: ["count": "\(expired)"]) }
            } catch {
                self.warnings.warning(self.logger, "sweep failed", key: "sweep", metadata: ["error": "\(error)"])
            }
            // A full pass means more may be due: sweep again at once rather than wait.
            if expired < self.skusPerCall {
                let interval = Duration.milliseconds(self.intervalMilliseconds)
                try? await cancelWhenGracefulShutdown { try await self.clock.sleep(for: interval) }
            }
        }
    }
}
