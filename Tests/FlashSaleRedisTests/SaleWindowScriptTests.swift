import FlashSaleCore
import FlashSaleRedis
import FlashSaleTesting
import Testing

/// A sale's window (startsAt, endsAt, close) as the scripts keep it, on the shard's clock: the
/// test moves that clock by hand, so each edge is checked to the millisecond.
@Suite struct SaleWindowScriptTests {
    @Test func theSaleOpensAndEndsToTheMillisecondOfTheShardsClock() async throws {
        try await TestShard.withShards(1, scriptTime: .supplied) { shards in
            let shard = shards[0], store = shard.store
            let now = try await shard.scriptClockMilliseconds()
            let settings = SKUSettings(stock: 10, perUserLimit: 10, startsAtMilliseconds: now + 1000, endsAtMilliseconds: now + 1500)
            let defined = try await store.defineSKU("w", settings: settings)
            #expect(defined.state.settings == settings)
            await #expect(throws: SaleError.notStarted(opensInMilliseconds: 1000)) {
                try await store.reserve(sku: "w", user: "u", quantity: 1, requestId: "early")
            }
            try await shard.advanceScriptClock(by: .milliseconds(999))
            await #expect(throws: SaleError.notStarted(opensInMilliseconds: 1)) {
                try await store.reserve(sku: "w", user: "u", quantity: 1, requestId: "early")
            }
            try await shard.advanceScriptClock(by: .milliseconds(1))
            let first = try await store.reserve(sku: "w", user: "u", quantity: 1, requestId: "early")
            #expect(first.isNew)
            try await shard.advanceScriptClock(by: .milliseconds(499))
            _ = try await store.reserve(sku: "w", user: "u", quantity: 1, requestId: "last")
            try await shard.advanceScriptClock(by: .milliseconds(1))
            await #expect(throws: SaleError.saleEnded) {
                try await store.reserve(sku: "w", user: "u", quantity: 1, requestId: "late")
            }
            // After the end a repeated requestId still answers its reservation (I5), and what was
            // reserved can still be committed.
            let repeated = try await store.reserve(sku: "w", user: "u", quantity: 1, requestId: "early")
            #expect(!repeated.isNew && repeated.reservation.id == first.reservation.id)
            #expect(try await store.commit(sku: "w", id: first.reservation.id).status == .committed)
            let state = try await store.skuState("w")
            #expect(state.reserved == 1 && state.committed == 1 && state.settings.endsAtMilliseconds == now + 1500)
        }
    }

    @Test func aCloseEndsTheSaleNowAndOnlyOnce() async throws {
        try await TestShard.withShards(1, scriptTime: .supplied) { shards in
            let shard = shards[0], store = shard.store
            _ = try await store.defineSKU("c", settings: SKUSettings(stock: 5))
            let held = try await store.reserve(sku: "c", user: "u", quantity: 1, requestId: "1")
            let closedAt = try await shard.scriptClockMilliseconds()
            let closed = try await store.closeSKU("c")
            #expect(closed.settings.endsAtMilliseconds == closedAt && closed.reserved == 1)
            await #expect(throws: SaleError.saleEnded) { try await store.reserve(sku: "c", user: "v", quantity: 1, requestId: "2") }
            try await shard.advanceScriptClock(by: .seconds(5))
            #expect(try await store.closeSKU("c").settings.endsAtMilliseconds == closedAt)
            #expect(try await store.release(sku: "c", id: held.reservation.id).status == .released)
            await #expect(throws: SaleError.unknownSKU) { try await store.closeSKU("nothing") }
        }
    }

    @Test func aSaleClosedBeforeItsOpeningNeverOpens() async throws {
        try await TestShard.withShards(1, scriptTime: .supplied) { shards in
            let shard = shards[0], store = shard.store
            let now = try await shard.scriptClockMilliseconds()
            _ = try await store.defineSKU("s", settings: SKUSettings(stock: 5, startsAtMilliseconds: now + 60_000))
            _ = try await store.closeSKU("s")
            await #expect(throws: SaleError.saleEnded) { try await store.reserve(sku: "s", user: "u", quantity: 1, requestId: "1") }
            try await shard.advanceScriptClock(by: .seconds(61))
            await #expect(throws: SaleError.saleEnded) { try await store.reserve(sku: "s", user: "u", quantity: 1, requestId: "1") }
        }
    }

    @Test func aDefineSetsTheWholeWindowAndAHandoffCarriesIt() async throws {
        try await TestShard.withShards(2, scriptTime: .supplied) { shards in
            let now = try await shards[0].scriptClockMilliseconds()
            try await shards[1].setScriptClock(milliseconds: now)
            let store = shards[0].store
            let windowed = SKUSettings(stock: 5, startsAtMilliseconds: now - 1000, endsAtMilliseconds: now + 60_000)
            _ = try await store.defineSKU("h", settings: windowed)
            _ = try await store.reserve(sku: "h", user: "u", quantity: 1, requestId: "1")
            guard case .snapshot(let snapshot) = try await store.exportForHandoff("h") else {
                Issue.record("no snapshot")
                return
            }
            #expect(snapshot.state.settings == windowed)
            #expect(try await shards[1].store.importHandoff(snapshot))
            #expect(try await shards[1].store.skuState("h").settings == windowed)
            try await shards[1].advanceScriptClock(by: .seconds(60))
            await #expect(throws: SaleError.saleEnded) {
                try await shards[1].store.reserve(sku: "h", user: "v", quantity: 1, requestId: "2")
            }
            // A define without a window takes it away: PUT replaces the whole definition.
            let reopened = try await shards[1].store.defineSKU("h", settings: SKUSettings(stock: 5))
            #expect(reopened.state.settings.startsAtMilliseconds == nil && reopened.state.settings.endsAtMilliseconds == nil)
            #expect(try await shards[1].store.reserve(sku: "h", user: "v", quantity: 1, requestId: "2").isNew)
        }
    }
}
