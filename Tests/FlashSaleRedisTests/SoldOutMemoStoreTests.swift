import FlashSaleCore
import FlashSaleRedis
import FlashSaleTesting
import Logging
import Synchronization
import Testing

/// The sold-out memo on a real shard: the herd after the last unit costs no script call, and a
/// retry of a request that took a unit still gets its reservation (I5). The scripts' clock and the
/// store's are both moved by hand.
@Suite struct SoldOutMemoStoreTests {
    /// The membership epoch the store's calls carry, changed by the test.
    final class Epoch: Sendable {
        let value = Mutex<Int64>(5)
    }

    struct Fixture {
        let shard: TestShard
        let store: SKUStore
        let clock: ManualClock
        let epoch: Epoch

        /// Script calls Redis has run so far (EVALSHA, from INFO commandstats).
        func scriptCalls() async throws -> Int {
            let info = try await self.shard.client.send(["INFO", "commandstats"]).string ?? ""
            guard let line = info.split(separator: "\r\n").first(where: { $0.hasPrefix("cmdstat_evalsha:") }),
                let calls = line.split(separator: ",").first?.split(separator: "=").last.flatMap({ Int($0) })
            else { return 0 }
            return calls
        }

        func reserve(_ requestId: String, user: String? = nil) async -> Result<ReservationReceipt, SaleError> {
            await self.store.run(.reserve(sku: "hot", user: user ?? requestId, quantity: 1, requestId: requestId)).receiptResult()
        }
    }

    /// A shard with "hot" of stock 3 sold to took-1...took-3, and the memo taken by the next buyer.
    func withSoldOutSKU(ttlSeconds: Int64 = 600, _ body: (Fixture) async throws -> Void) async throws {
        try await TestShard.withShards(1, scriptTime: .supplied) { shards in
            let clock = ManualClock()
            let epoch = Epoch()
            var logger = Logger(label: "test")
            logger.logLevel = .error
            let store = SKUStore(
                scripts: ScriptRunner(client: shards[0].client, time: .supplied),
                logger: logger,
                callerEpoch: { epoch.value.withLock { $0 } },
                soldOutMemo: .init(lifetime: .milliseconds(500)),
                clock: clock
            )
            let fixture = Fixture(shard: shards[0], store: store, clock: clock, epoch: epoch)
            _ = try await store.run(.defineSKU(sku: "hot", settings: SKUSettings(stock: 3, reservationTtlSeconds: ttlSeconds))).skuDefinition()
            for buyer in 1...3 { _ = try await fixture.reserve("took-\(buyer)").get() }
            #expect(await fixture.reserve("first-late") == .failure(.soldOut))
            try await body(fixture)
        }
    }

    @Test func theHerdAfterTheLastUnitIsAnsweredWithoutRedisAndEveryBuyerStillGetsTheirReservation() async throws {
        try await self.withSoldOutSKU { fixture in
            let before = try await fixture.scriptCalls()
            for buyer in 0..<200 {
                #expect(await fixture.reserve("late-\(buyer)") == .failure(.soldOut))
            }
            #expect(try await fixture.scriptCalls() == before, "no script ran for the herd")
            // I5: each request that took a unit, repeated, answers its reservation from Redis.
            for buyer in 1...3 {
                let receipt = try await fixture.reserve("took-\(buyer)").get()
                #expect(!receipt.isNew && receipt.reservation.requestId == "took-\(buyer)" && receipt.reservation.status == .reserved)
            }
            #expect(try await fixture.scriptCalls() == before + 3)
        }
    }

    @Test func aReleaseEndsTheMemoSoTheReturnedUnitIsSold() async throws {
        try await self.withSoldOutSKU { fixture in
            let held = try await fixture.reserve("took-2").get().reservation
            _ = try await fixture.store.run(.release(sku: "hot", id: held.id)).reservation()
            let receipt = try await fixture.reserve("after-release").get()
            #expect(receipt.isNew)
            #expect(await fixture.reserve("after-that") == .failure(.soldOut))
        }
    }

    @Test func aStockIncreaseEndsTheMemo() async throws {
        try await self.withSoldOutSKU { fixture in
            _ = try await fixture.store.run(.defineSKU(sku: "hot", settings: SKUSettings(stock: 4))).skuDefinition()
            #expect(try await fixture.reserve("after-increase").get().isNew)
        }
    }

    /// The memo lasts no longer than the first held reservation's time: once it is due, a buyer
    /// gets its unit back from Redis (which expires it on the way).
    @Test func theMemoEndsWhenTheFirstReservationFallsDue() async throws {
        try await self.withSoldOutSKU(ttlSeconds: 1) { fixture in
            #expect(await fixture.reserve("late") == .failure(.soldOut))
            try await fixture.shard.advanceScriptClock(by: .seconds(1))
            fixture.clock.advance(by: .seconds(1))
            #expect(try await fixture.reserve("after-expiry").get().isNew)
        }
    }

    @Test func theMemoEndsAfterItsLifetimeAndOnANewEpoch() async throws {
        try await self.withSoldOutSKU { fixture in
            var calls = try await fixture.scriptCalls()
            #expect(await fixture.reserve("a") == .failure(.soldOut))
            #expect(try await fixture.scriptCalls() == calls)
            fixture.clock.advance(by: .milliseconds(500))
            #expect(await fixture.reserve("b") == .failure(.soldOut))
            // Asked Redis (reserve), which took a new snapshot (soldout.lua).
            #expect(try await fixture.scriptCalls() == calls + 2)
            calls += 2
            fixture.epoch.value.withLock { $0 = 6 }
            #expect(await fixture.reserve("c") == .failure(.soldOut))
            #expect(try await fixture.scriptCalls() > calls, "a memo of epoch 5 is not used at epoch 6")
        }
    }

    /// Handing the SKU over ends its memo here: this shard answers `moved` after the export.
    @Test func anExportEndsTheMemo() async throws {
        try await self.withSoldOutSKU { fixture in
            guard case .snapshot = try await fixture.store.exportForHandoff("hot") else {
                Issue.record("the SKU was not exported")
                return
            }
            #expect(await fixture.reserve("late") == .failure(.moved(epoch: 5)))
        }
    }
}

extension SaleOutcome {
    fileprivate func receiptResult() -> Result<ReservationReceipt, SaleError> {
        Result(catching: { () throws(SaleError) -> ReservationReceipt in try self.receipt() })
    }
}
