import FlashSaleCore
import FlashSaleRedis
import FlashSaleTesting
import Foundation
import Testing

@Suite struct SKUStoreTests {
    @Test func twoHundredBuyersForFiftyUnitsGetExactlyFifty() async throws {
        let shard = try await TestShard.start()
        let store = shard.store
        _ = try await store.defineSKU("hot", settings: SKUSettings(stock: 50))
        let outcomes = await withTaskGroup(of: String.self) { group in
            for buyer in 0..<200 {
                group.addTask {
                    do {
                        _ = try await store.reserve(sku: "hot", user: "u\(buyer)", quantity: 1, requestId: "q\(buyer)")
                        return "created"
                    } catch SaleError.soldOut {
                        return "sold_out"
                    } catch {
                        return "\(error)"
                    }
                }
            }
            return await group.reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
        }
        #expect(outcomes == ["created": 50, "sold_out": 150])
        let state = try await store.skuState("hot")
        #expect(state.reserved == 50 && state.available == 0 && state.committed == 0)
        await shard.close()
    }

    @Test func quantitiesAboveOneAgainstTheLastUnits() async throws {
        let shard = try await TestShard.start()
        let store = shard.store
        _ = try await store.defineSKU("s", settings: SKUSettings(stock: 5, perUserLimit: 10))
        _ = try await store.reserve(sku: "s", user: "a", quantity: 3, requestId: "1")
        await #expect(throws: SaleError.soldOut) { try await store.reserve(sku: "s", user: "b", quantity: 3, requestId: "2") }
        _ = try await store.reserve(sku: "s", user: "b", quantity: 2, requestId: "3")
        await #expect(throws: SaleError.soldOut) { try await store.reserve(sku: "s", user: "c", quantity: 1, requestId: "4") }
        let state = try await store.skuState("s")
        #expect(state.reserved == 5 && state.available == 0)
        await shard.close()
    }

    @Test func perUserLimitHoldsUnderConcurrentRequestsBySameUser() async throws {
        let shard = try await TestShard.start()
        let store = shard.store
        _ = try await store.defineSKU("s", settings: SKUSettings(stock: 100, perUserLimit: 3))
        let created = await withTaskGroup(of: Int64.self) { group in
            for attempt in 0..<60 {
                group.addTask {
                    let quantity: Int64 = attempt % 2 == 0 ? 1 : 2
                    let receipt = try? await store.reserve(sku: "s", user: "greedy", quantity: quantity, requestId: "r\(attempt)")
                    return receipt == nil ? 0 : quantity
                }
            }
            return await group.reduce(0, +)
        }
        #expect(created == 3)
        let state = try await store.skuState("s")
        #expect(state.reserved == created)
        await #expect(throws: SaleError.limitExceeded) {
            try await store.reserve(sku: "s", user: "greedy", quantity: 2, requestId: "late")
        }
        // Another user is not affected.
        _ = try await store.reserve(sku: "s", user: "other", quantity: 3, requestId: "other")
        await shard.close()
    }

    @Test func releasedAndExpiredQuantityNoLongerCountsAgainstTheUser() async throws {
        let shard = try await TestShard.start()
        let store = shard.store
        _ = try await store.defineSKU("s", settings: SKUSettings(stock: 10, perUserLimit: 2))
        let first = try await store.reserve(sku: "s", user: "u", quantity: 2, requestId: "1")
        await #expect(throws: SaleError.limitExceeded) { try await store.reserve(sku: "s", user: "u", quantity: 1, requestId: "2") }
        _ = try await store.release(sku: "s", id: first.reservation.id)
        _ = try await store.reserve(sku: "s", user: "u", quantity: 2, requestId: "3")
        await shard.close()
    }

    @Test func repeatedRequestIdReturnsTheSameReservationAndChangesNothing() async throws {
        let shard = try await TestShard.start()
        let store = shard.store
        _ = try await store.defineSKU("s", settings: SKUSettings(stock: 10, perUserLimit: 5))
        let first = try await store.reserve(sku: "s", user: "u", quantity: 2, requestId: "same")
        let outboxBefore = try await shard.client.send(["XLEN", "fs:outbox"]).integer
        let again = try await store.reserve(sku: "s", user: "u", quantity: 2, requestId: "same")
        // Even with different content, the requestId names the earlier request.
        let different = try await store.reserve(sku: "s", user: "u", quantity: 1, requestId: "same")
        #expect(first.isNew && !again.isNew && !different.isNew)
        #expect(again.reservation == first.reservation && different.reservation == first.reservation)
        let state = try await store.skuState("s")
        #expect(state.reserved == 2)
        #expect(try await shard.client.send(["XLEN", "fs:outbox"]).integer == outboxBefore)
        await shard.close()
    }

    @Test func commitIsIdempotentAndReleaseAfterCommitIsRefused() async throws {
        let shard = try await TestShard.start()
        let store = shard.store
        _ = try await store.defineSKU("s", settings: SKUSettings(stock: 10, perUserLimit: 5))
        let id = try await store.reserve(sku: "s", user: "u", quantity: 2, requestId: "1").reservation.id
        #expect(try await store.commit(sku: "s", id: id).status == .committed)
        #expect(try await store.commit(sku: "s", id: id).status == .committed)
        await #expect(throws: SaleError.refused(.committed)) { try await store.release(sku: "s", id: id) }
        let state = try await store.skuState("s")
        #expect(state.committed == 2 && state.reserved == 0 && state.available == 8)
        await shard.close()
    }

    @Test func releaseIsIdempotentReturnsStockAndCommitAfterReleaseIsRefused() async throws {
        let shard = try await TestShard.start()
        let store = shard.store
        _ = try await store.defineSKU("s", settings: SKUSettings(stock: 1))
        let id = try await store.reserve(sku: "s", user: "u", quantity: 1, requestId: "1").reservation.id
        #expect(try await store.release(sku: "s", id: id).status == .released)
        #expect(try await store.release(sku: "s", id: id).status == .released)
        await #expect(throws: SaleError.refused(.released)) { try await store.commit(sku: "s", id: id) }
        #expect(try await store.skuState("s").available == 1)
        await shard.close()
    }

    @Test func aReservationPastItsTTLIsExpiredCannotBeCommittedAndItsStockIsBack() async throws {
        let shard = try await TestShard.start(scriptTime: .supplied)
        let store = shard.store
        _ = try await store.defineSKU("s", settings: SKUSettings(stock: 3, perUserLimit: 3, reservationTtlSeconds: 1))
        let reservedAt = try await shard.scriptClockMilliseconds()
        let lazy = try await store.reserve(sku: "s", user: "a", quantity: 1, requestId: "1").reservation
        let viaCommit = try await store.reserve(sku: "s", user: "b", quantity: 1, requestId: "2").reservation
        let swept = try await store.reserve(sku: "s", user: "c", quantity: 1, requestId: "3").reservation
        #expect(lazy.expiresAtMilliseconds == reservedAt + 1000)
        try await shard.advanceScriptClock(by: .milliseconds(999))
        #expect(try await store.sweep(skusPerCall: 10, reservationsPerSKU: 10) == 0, "nothing is due a millisecond early")
        try await shard.advanceScriptClock(by: .milliseconds(1))
        // The sweeper finds every due reservation without a request touching it.
        #expect(try await store.sweep(skusPerCall: 10, reservationsPerSKU: 1) == 1)
        #expect(try await store.reservation(sku: "s", id: lazy.id).status == .expired)
        await #expect(throws: SaleError.refused(.expired)) { try await store.commit(sku: "s", id: viaCommit.id) }
        await #expect(throws: SaleError.refused(.expired)) { try await store.commit(sku: "s", id: swept.id) }
        let state = try await store.skuState("s")
        #expect(state.available == 3 && state.reserved == 0)
        #expect(try await store.sweep(skusPerCall: 10, reservationsPerSKU: 10) == 0)
        await shard.close()
    }

    @Test func soldOutStockHeldByLapsedReservationsIsFreedByTheNextReservation() async throws {
        let shard = try await TestShard.start(scriptTime: .supplied)
        let store = shard.store
        _ = try await store.defineSKU("s", settings: SKUSettings(stock: 1, reservationTtlSeconds: 1))
        _ = try await store.reserve(sku: "s", user: "a", quantity: 1, requestId: "1")
        await #expect(throws: SaleError.soldOut) { try await store.reserve(sku: "s", user: "b", quantity: 1, requestId: "2") }
        try await shard.advanceScriptClock(by: .seconds(1))
        #expect(try await store.reserve(sku: "s", user: "b", quantity: 1, requestId: "3").isNew)
        await shard.close()
    }

    @Test func unknownSKUsAndReservationsAreNamedAsSuch() async throws {
        let shard = try await TestShard.start()
        let store = shard.store
        await #expect(throws: SaleError.unknownSKU) { try await store.skuState("nope") }
        await #expect(throws: SaleError.unknownSKU) { try await store.reserve(sku: "nope", user: "u", quantity: 1, requestId: "1") }
        await #expect(throws: SaleError.unknownReservation) { try await store.commit(sku: "nope", id: "r1") }
        _ = try await store.defineSKU("s", settings: SKUSettings(stock: 1))
        await #expect(throws: SaleError.unknownReservation) { try await store.reservation(sku: "s", id: "r1") }
        await #expect(throws: SaleError.unknownReservation) { try await store.release(sku: "s", id: "r1") }
        await shard.close()
    }

    @Test func stockCannotDropBelowWhatIsSold() async throws {
        let shard = try await TestShard.start()
        let store = shard.store
        #expect(try await store.defineSKU("s", settings: SKUSettings(stock: 5, perUserLimit: 5)).isNew)
        _ = try await store.reserve(sku: "s", user: "u", quantity: 3, requestId: "1")
        await #expect(throws: SaleError.stockBelowSold(reservedAndCommitted: 3)) {
            try await store.defineSKU("s", settings: SKUSettings(stock: 2, perUserLimit: 5))
        }
        let updated = try await store.defineSKU("s", settings: SKUSettings(stock: 3, perUserLimit: 5))
        #expect(!updated.isNew && updated.state.available == 0)
        await shard.close()
    }

    @Test func everyChangeAppendsItsEventToTheOutboxInTheSameCall() async throws {
        let shard = try await TestShard.start()
        let store = shard.store
        _ = try await store.defineSKU("s", settings: SKUSettings(stock: 5, perUserLimit: 5))
        let a = try await store.reserve(sku: "s", user: "u", quantity: 2, requestId: "1").reservation
        let b = try await store.reserve(sku: "s", user: "u", quantity: 1, requestId: "2").reservation
        _ = try await store.commit(sku: "s", id: a.id)
        _ = try await store.release(sku: "s", id: b.id)
        _ = try await store.commit(sku: "s", id: a.id)  // a repeat changes nothing and records nothing
        let entries = try await shard.client.send(["XRANGE", "fs:outbox", "-", "+"]).array ?? []
        let events = entries.map { entry -> [String: String] in
            let fields = entry.array?[1].array?.compactMap(\.string) ?? []
            return Dictionary(uniqueKeysWithValues: stride(from: 0, to: fields.count, by: 2).map { (fields[$0], fields[$0 + 1]) })
        }
        #expect(events.map { $0["kind"] } == ["defined", "reserved", "reserved", "committed", "released"])
        #expect(events[3]["id"] == a.id && events[3]["version"] == "2" && events[3]["committed"] == "2")
        #expect(events[4]["reserved"] == "0" && events[4]["stock"] == "5")
        #expect(events.map { $0["skuVersion"] } == ["1", "2", "3", "4", "5"])
        await shard.close()
    }
}

@Suite struct OutboxLimitTests {
    /// With the record behind, new work is refused (503, retryable) but resolutions still go through.
    @Test func aFullOutboxRefusesNewReservationsButNotCommits() async throws {
        let shard = try await TestShard.start()
        let store = shard.store
        _ = try await store.defineSKU("s", settings: SKUSettings(stock: 10, perUserLimit: 10))
        let id = try await store.reserve(sku: "s", user: "u", quantity: 1, requestId: "1").reservation.id
        try await store.setOutboxLimit(2)
        do {
            _ = try await store.reserve(sku: "s", user: "u", quantity: 1, requestId: "2")
            Issue.record("a reservation was accepted with the outbox full")
        } catch SaleError.unavailable {}
        do {
            _ = try await store.defineSKU("t", settings: SKUSettings(stock: 1))
            Issue.record("a SKU was defined with the outbox full")
        } catch SaleError.unavailable {}
        #expect(try await store.commit(sku: "s", id: id).status == .committed)
        // A repeated request still answers: it changes nothing.
        #expect(try await store.reserve(sku: "s", user: "u", quantity: 1, requestId: "1").reservation.id == id)
        #expect(try await shard.client.send(["XLEN", "fs:outbox"]).integer == 3)
        try await store.setOutboxLimit(100)
        #expect(try await store.reserve(sku: "s", user: "u", quantity: 1, requestId: "3").isNew)
        await shard.close()
    }
}
