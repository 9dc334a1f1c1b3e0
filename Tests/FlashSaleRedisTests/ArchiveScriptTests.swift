import FlashSaleCore
import FlashSaleRedis
import FlashSaleTesting
import Testing

/// archivable.lua and archive.lua on a real shard, on a hand-moved clock: a SKU becomes a
/// candidate only once its sale ended and nothing is held, is archived only when the record's
/// count and version sum match the shard's, and then keeps only its meta hash.
@Suite struct ArchiveScriptTests {
    /// A SKU of stock 5 sold for one second: r1 committed, r2 released, r3 left to expire.
    static func endedSale(_ shard: TestShard) async throws -> [Reservation] {
        let store = shard.store
        let now = try await shard.scriptClockMilliseconds()
        _ = try await store.defineSKU("s", settings: SKUSettings(stock: 5, perUserLimit: 5, reservationTtlSeconds: 2, endsAtMilliseconds: now + 1000))
        var made: [Reservation] = []
        for index in 1...3 { made.append(try await store.reserve(sku: "s", user: "u\(index)", quantity: 1, requestId: "q\(index)").reservation) }
        made[0] = try await store.commit(sku: "s", id: made[0].id)
        made[1] = try await store.release(sku: "s", id: made[1].id)
        return made
    }

    @Test func aSaleIsACandidateOnlyOnceItEndedAndNothingIsHeld() async throws {
        try await TestShard.withShards(1, scriptTime: .supplied) { shards in
            let shard = shards[0], store = shard.store
            _ = try await Self.endedSale(shard)
            _ = try await store.defineSKU("open-for-ever", settings: SKUSettings(stock: 1))
            #expect(try await store.archivable(limit: 10).isEmpty)
            // Ended, but r3 is held until its expiry two seconds after it was made.
            try await shard.advanceScriptClock(by: .milliseconds(1000))
            #expect(try await store.archivable(limit: 10).isEmpty)
            try await shard.advanceScriptClock(by: .milliseconds(1000))
            let candidates = try await store.archivable(limit: 10)
            #expect(candidates.map(\.sku) == ["s"])
            // define 1, three reservations, a commit, a release, the expiry archivable.lua made.
            #expect(candidates.first?.version == 7)
        }
    }

    /// A SKU that holds a reservation for a long while does not keep the ones ended after it from
    /// their turn: it moves back to when its reservation falls due.
    @Test func aSaleStillHeldLetsTheNextCandidateThrough() async throws {
        try await TestShard.withShards(1, scriptTime: .supplied) { shards in
            let shard = shards[0], store = shard.store
            let now = try await shard.scriptClockMilliseconds()
            _ = try await store.defineSKU("held", settings: SKUSettings(stock: 1, reservationTtlSeconds: 60, endsAtMilliseconds: now + 1000))
            _ = try await store.reserve(sku: "held", user: "u", quantity: 1, requestId: "q")
            _ = try await store.defineSKU("free", settings: SKUSettings(stock: 1, endsAtMilliseconds: now + 2000))
            try await shard.advanceScriptClock(by: .seconds(3))
            #expect(try await store.archivable(limit: 1).isEmpty)
            #expect(try await store.archivable(limit: 1).map(\.sku) == ["free"])
            try await shard.advanceScriptClock(by: .seconds(60))
            #expect(try await store.archivable(limit: 2).map(\.sku) == ["free", "held"])
        }
    }

    @Test func aRecordBehindTheShardRefusesTheArchive() async throws {
        try await TestShard.withShards(1, scriptTime: .supplied) { shards in
            let shard = shards[0], store = shard.store
            _ = try await Self.endedSale(shard)
            try await shard.advanceScriptClock(by: .seconds(3))
            let version = try #require(try await store.archivable(limit: 10).first?.version)
            // Versions: r1 reserved 1, committed 2; r2 1, 2; r3 1, expired 2: count 3, sum 6.
            #expect(try await store.archive("s", version: version, recordCount: 2, recordVersionSum: 4) == .notReady("unflushed"))
            #expect(try await store.archive("s", version: version, recordCount: 3, recordVersionSum: 5) == .notReady("unflushed"))
            #expect(try await store.archive("s", version: version - 1, recordCount: 3, recordVersionSum: 6) == .notReady("changed"))
            #expect(try await store.skuState("s").isArchived == false)
            #expect(try await store.archive("s", version: version, recordCount: 3, recordVersionSum: 6) == .archived(version: version))
            #expect(try await store.archive("s", version: version, recordCount: 3, recordVersionSum: 6) == .archived(version: version))
        }
    }

    @Test func anOpenSaleIsNeverArchived() async throws {
        try await TestShard.withShards(1, scriptTime: .supplied) { shards in
            let store = shards[0].store
            _ = try await store.defineSKU("o", settings: SKUSettings(stock: 1))
            #expect(try await store.archive("o", version: 1, recordCount: 0, recordVersionSum: 0) == .notReady("open"))
        }
    }

    @Test func anArchivedSKUKeepsOnlyItsMetaAndSendsEveryReadToTheRecord() async throws {
        try await TestShard.withShards(2, scriptTime: .supplied) { shards in
            let shard = shards[0], store = shard.store
            let made = try await Self.endedSale(shard)
            try await shard.advanceScriptClock(by: .seconds(3))
            let version = try #require(try await store.archivable(limit: 10).first?.version)
            let before = try await store.skuState("s")
            #expect(try await store.archive("s", version: version, recordCount: 3, recordVersionSum: 6) == .archived(version: version))
            for key in ["res", "req", "users", "exp"] {
                #expect(try await shard.client.send(["EXISTS", "fs:{s}:\(key)"]).integer == 0, "fs:{s}:\(key)")
            }
            #expect(try await shard.client.send(["ZSCORE", "fs:expiry", "s"]).string == nil)
            #expect(try await store.archivedCount() == 1)
            var after = try await store.skuState("s")
            #expect(after.isArchived)
            after.isArchived = false
            #expect(after == before)
            await #expect(throws: SaleError.archived) { try await store.reserve(sku: "s", user: "u1", quantity: 1, requestId: "q1") }
            await #expect(throws: SaleError.archived) { try await store.reservation(sku: "s", id: made[0].id) }
            await #expect(throws: SaleError.archived) { try await store.commit(sku: "s", id: made[0].id) }
            await #expect(throws: SaleError.archived) { try await store.defineSKU("s", settings: SKUSettings(stock: 9)) }
            #expect(try await store.archivable(limit: 10).isEmpty)
            // A handoff carries the mark, and no reservation.
            guard case .snapshot(let snapshot) = try await store.exportForHandoff("s") else {
                Issue.record("no snapshot")
                return
            }
            #expect(snapshot.state.isArchived && snapshot.reservations.isEmpty)
            #expect(try await shards[1].store.importHandoff(snapshot))
            #expect(try await shards[1].store.skuState("s").isArchived)
            #expect(try await shards[1].store.archivedCount() == 1)
            await #expect(throws: SaleError.archived) { try await shards[1].store.reserve(sku: "s", user: "u9", quantity: 1, requestId: "q9") }
        }
    }
}
