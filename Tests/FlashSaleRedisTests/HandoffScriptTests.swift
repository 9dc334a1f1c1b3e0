import FlashSaleCore
import FlashSaleRedis
import FlashSaleTesting
import Logging
import Synchronization
import Testing

/// The handoff's scripts on real Redis: freezing and exporting a SKU on one shard, importing it
/// on another, and the fence a newer caller raises.
struct HandoffScriptTests {
    final class Epoch: Sendable {
        let value: Atomic<Int64>
        init(_ value: Int64) { self.value = Atomic(value) }
    }

    static func store(_ shard: TestShard, epoch: Epoch) -> SKUStore {
        SKUStore(scripts: ScriptRunner(client: shard.client, time: shard.scriptTime), logger: Logger(label: "test"), callerEpoch: {
            epoch.value.load(ordering: .relaxed)
        })
    }

    static func expectMoved(_ body: () async throws -> Void) async throws {
        do {
            try await body()
            Issue.record("a frozen SKU answered")
        } catch SaleError.moved {
        } catch {
            Issue.record("expected moved, got \(error)")
        }
    }

    @Test func aFrozenSKURefusesEverythingAndItsImportServesTheSameSale() async throws {
        try await TestShard.withShards(2) { shards in try await Self.handOver(from: shards[0], to: shards[1]) }
    }

    static func handOver(from previous: TestShard, to next: TestShard) async throws {
        let source = previous.store
        let target = next.store

        _ = try await source.defineSKU("tv", settings: SKUSettings(stock: 10, perUserLimit: 3, reservationTtlSeconds: 600))
        let kept = try await source.reserve(sku: "tv", user: "ann", quantity: 2, requestId: "r1").reservation
        let committed = try await source.reserve(sku: "tv", user: "bob", quantity: 1, requestId: "r2").reservation
        let released = try await source.reserve(sku: "tv", user: "ann", quantity: 1, requestId: "r3").reservation
        _ = try await source.commit(sku: "tv", id: committed.id)
        _ = try await source.release(sku: "tv", id: released.id)
        let before = try await source.skuState("tv")

        guard case .snapshot(let snapshot) = try await source.exportForHandoff("tv") else {
            Issue.record("the SKU was not exported")
            return
        }
        #expect(snapshot.state == before)
        #expect(snapshot.reservations.count == 3)
        #expect(Set(snapshot.reservations.map(\.status)) == [.reserved, .committed, .released])
        // Exporting again (a resumed handoff) answers the same frozen state.
        #expect(try await source.exportForHandoff("tv") == .snapshot(snapshot))

        // Every script on the frozen SKU refuses, and nothing can define it again here.
        try await Self.expectMoved { _ = try await source.skuState("tv") }
        try await Self.expectMoved { _ = try await source.reserve(sku: "tv", user: "cy", quantity: 1, requestId: "r4") }
        try await Self.expectMoved { _ = try await source.commit(sku: "tv", id: kept.id) }
        try await Self.expectMoved { _ = try await source.release(sku: "tv", id: kept.id) }
        try await Self.expectMoved { _ = try await source.reservation(sku: "tv", id: kept.id) }
        try await Self.expectMoved { _ = try await source.defineSKU("tv", settings: SKUSettings(stock: 99)) }
        try await Self.expectMoved {
            _ = try await source.defineSKU("tv", settings: SKUSettings(stock: 99), mayCreate: false)
        }
        #expect(try await source.skuCount() == 0, "the frozen SKU still counts as held")
        #expect(try await source.heldSKUs() == ["tv"], "a frozen SKU not yet acknowledged is still to hand over")

        // The import serves the same sale: counters, idempotent requestIds, the per-user limit.
        #expect(try await target.importHandoff(snapshot))
        #expect(try await target.skuState("tv") == before)
        let repeated = try await target.reserve(sku: "tv", user: "ann", quantity: 2, requestId: "r1")
        #expect(!repeated.isNew && repeated.reservation == kept)
        await #expect(throws: SaleError.limitExceeded) {
            try await target.reserve(sku: "tv", user: "ann", quantity: 2, requestId: "r5")
        }
        #expect(try await target.reserve(sku: "tv", user: "ann", quantity: 1, requestId: "r6").isNew)
        #expect(try await target.commit(sku: "tv", id: kept.id).status == .committed)
        await #expect(throws: SaleError.refused(.released)) { try await target.commit(sku: "tv", id: released.id) }
        // A repeated import (its acknowledgement was lost) does not roll the sale back.
        #expect(try await target.importHandoff(snapshot) == false)
        #expect(try await target.skuState("tv").committed == 3)

        try await source.finishHandoff("tv")
        #expect(try await source.heldSKUs().isEmpty)
        guard case .gone = try await source.exportForHandoff("tv") else {
            Issue.record("a handed-over SKU still exports")
            return
        }
        #expect(try await source.exportForHandoff("never") == .absent)
    }

    @Test func anImportedReservationStillExpiresOnTime() async throws {
        try await TestShard.withShards(2, scriptTime: .supplied) { shards in try await Self.expireAfterImport(from: shards[0], to: shards[1]) }
    }

    static func expireAfterImport(from previous: TestShard, to next: TestShard) async throws {
        // Both shards' scripts read one time, however long the second took to start.
        try await next.setScriptClock(milliseconds: try await previous.scriptClockMilliseconds())
        _ = try await previous.store.defineSKU("pen", settings: SKUSettings(stock: 2, reservationTtlSeconds: 1))
        let held = try await previous.store.reserve(sku: "pen", user: "u", quantity: 1, requestId: "q").reservation
        // A cart's item prepared for its commit moves prepared: it does not expire at the new owner.
        let prepared = try await previous.store.reserve(sku: "pen", user: "w", quantity: 1, requestId: "cart.0").reservation
        _ = try await previous.store.prepareCommit(sku: "pen", id: prepared.id)
        guard case .snapshot(let snapshot) = try await previous.store.exportForHandoff("pen") else {
            Issue.record("not exported")
            return
        }
        #expect(snapshot.reservations.filter(\.isCommitPrepared).map(\.id) == [prepared.id])
        try await next.store.importHandoff(snapshot)
        await #expect(throws: SaleError.soldOut) { try await next.store.reserve(sku: "pen", user: "v", quantity: 1, requestId: "q2") }
        try await next.advanceScriptClock(by: .seconds(2))
        // The shard's sweeper finds it through the expiry index the import rebuilt.
        #expect(try await next.store.sweep(skusPerCall: 10, reservationsPerSKU: 10) == 1)
        #expect(try await next.store.reservation(sku: "pen", id: held.id).status == .expired)
        #expect(try await next.store.skuState("pen").reserved == 1)
        await #expect(throws: SaleError.refused(.committed)) { try await next.store.release(sku: "pen", id: prepared.id) }
        #expect(try await next.store.commit(sku: "pen", id: prepared.id).status == .committed)
        #expect(try await next.store.skuState("pen").committed == 1)
    }

    @Test func anUpdateOnlyDefineNeverCreates() async throws {
        try await TestShard.withShards(1) { shards in try await Self.updateOnly(shards[0]) }
    }

    static func updateOnly(_ shard: TestShard) async throws {
        await #expect(throws: SaleError.unknownSKU) {
            try await shard.store.defineSKU("new", settings: SKUSettings(stock: 5), mayCreate: false)
        }
        await #expect(throws: SaleError.unknownSKU) { try await shard.store.skuState("new") }
        _ = try await shard.store.defineSKU("new", settings: SKUSettings(stock: 5))
        #expect(try await shard.store.defineSKU("new", settings: SKUSettings(stock: 7), mayCreate: false).state.settings.stock == 7)
    }

    @Test func aCallerWithANewerEpochFencesOlderOnes() async throws {
        try await TestShard.withShards(1) { shards in try await Self.fence(shards[0]) }
    }

    static func fence(_ shard: TestShard) async throws {
        let older = Self.store(shard, epoch: Epoch(3))
        let newer = Self.store(shard, epoch: Epoch(4))
        _ = try await older.defineSKU("a", settings: SKUSettings(stock: 1))
        // The newer caller's read, and nothing else, raises the shard's epoch.
        await #expect(throws: SaleError.unknownSKU) { try await newer.skuState("b") }
        await #expect(throws: SaleError.staleMembership(shardEpoch: 4)) { try await older.skuState("a") }
        #expect(try await newer.skuState("a").settings.stock == 1)
    }
}
