import FlashSaleCore
import FlashSaleRedis
import FlashSaleTesting
import Testing

/// The transfer scripts between buckets of a split SKU, on real Redis: a transfer's units leave
/// the donor once and reach the recipient once, however often either half is repeated, and its
/// bookkeeping moves with a bucket handed to another shard.
struct TransferScriptTests {
    static let donor = SKUBuckets.name(of: "tv", bucket: 0)
    static let recipient = SKUBuckets.name(of: "tv", bucket: 1)

    static func define(_ store: SKUStore, _ name: String, stock: Int64) async throws {
        _ = try await store.defineSKU(name, settings: SKUSettings(stock: stock, perUserLimit: 5))
    }

    @Test func aTransferMovesHalfTheAvailableStockOnceWhateverIsRepeated() async throws {
        try await TestShard.withShards(1) { shards in
            let store = shards[0].store
            try await Self.define(store, Self.donor, stock: 9)
            try await Self.define(store, Self.recipient, stock: 0)
            _ = try await store.reserve(sku: Self.donor, user: "ann", quantity: 2, requestId: "q1")

            let taken = try #require(try await store.takeForTransfer(donor: Self.donor, recipient: 1))
            #expect(taken == PendingTransfer(donor: 0, recipient: 1, sequence: 1, units: 4))  // half of 7, rounded up
            // Until it is finished, the donor answers the same transfer and takes nothing more.
            #expect(try await store.takeForTransfer(donor: Self.donor, recipient: 1) == taken)
            #expect(try await store.skuState(Self.donor).settings.stock == 5)
            #expect(try await store.unfinishedTransfers(olderThanMilliseconds: 0).map(\.transfer) == [taken])

            #expect(try await store.receiveTransfer(recipient: Self.recipient, taken) == true)
            #expect(try await store.receiveTransfer(recipient: Self.recipient, taken) == false)
            #expect(try await store.skuState(Self.recipient).settings.stock == 4)
            try await store.finishTransfer(donor: Self.donor, taken)
            try await store.finishTransfer(donor: Self.donor, taken)
            #expect(try await store.unfinishedTransfers(olderThanMilliseconds: 0).isEmpty)

            // The next transfer has the next sequence; the recipient takes it too.
            let next = try #require(try await store.takeForTransfer(donor: Self.donor, recipient: 1))
            #expect(next.sequence == 2 && next.units == 2)
            #expect(try await store.receiveTransfer(recipient: Self.recipient, next) == true)
            try await store.finishTransfer(donor: Self.donor, next)
            #expect(try await store.skuState(Self.donor).settings.stock == 3)
            #expect(try await store.skuState(Self.recipient).settings.stock == 6)
            // A late repeat of the first transfer adds nothing.
            #expect(try await store.receiveTransfer(recipient: Self.recipient, taken) == false)
            #expect(try await store.skuState(Self.recipient).settings.stock == 6)

            // The donor's last unit goes, then it has nothing to give (its reserved two stay).
            let last = try #require(try await store.takeForTransfer(donor: Self.donor, recipient: 1))
            #expect(last.units == 1)
            _ = try await store.receiveTransfer(recipient: Self.recipient, last)
            try await store.finishTransfer(donor: Self.donor, last)
            #expect(try await store.takeForTransfer(donor: Self.donor, recipient: 1) == nil)
            let donorState = try await store.skuState(Self.donor)
            #expect(donorState.settings.stock == 2 && donorState.reserved == 2)
        }
    }

    @Test func aBucketIsOnlyCreatedByADefineAndASplitSKUKeepsItsSettings() async throws {
        try await TestShard.withShards(1) { shards in
            let store = shards[0].store
            try await Self.define(store, Self.recipient, stock: 3)
            let taken = PendingTransfer(donor: 0, recipient: 1, sequence: 1, units: 5)
            _ = try await store.receiveTransfer(recipient: Self.recipient, taken)
            // Defining the bucket again (its node retrying a define) leaves its stock as the sale made it.
            let again = try await store.defineSKU(Self.recipient, settings: SKUSettings(stock: 3, perUserLimit: 5))
            #expect(again.state.settings.stock == 8 && !again.isNew)

            let split = SKUSettings(stock: 30, perUserLimit: 2, buckets: 3)
            _ = try await store.defineSKU("tv", settings: split)
            #expect(try await store.defineSKU("tv", settings: split).isNew == false)
            for changed in [SKUSettings(stock: 31, perUserLimit: 2, buckets: 3), SKUSettings(stock: 30, perUserLimit: 2, buckets: 1)] {
                await #expect(throws: SaleError.self) { _ = try await store.defineSKU("tv", settings: changed) }
            }
            // The split SKU's own entry sells nothing itself.
            await #expect(throws: SaleError.self) { _ = try await store.reserve(sku: "tv", user: "ann", quantity: 1, requestId: "q") }
            #expect(try await store.skuState("tv").settings == split)
        }
    }

    @Test func aHandedOverBucketKeepsItsTransfersSoNoneIsAppliedTwiceOrForgotten() async throws {
        try await TestShard.withShards(2) { shards in
            let (source, target) = (shards[0].store, shards[1].store)
            try await Self.define(source, Self.donor, stock: 10)
            try await Self.define(source, Self.recipient, stock: 0)
            let first = try #require(try await source.takeForTransfer(donor: Self.donor, recipient: 1))
            _ = try await source.receiveTransfer(recipient: Self.recipient, first)
            try await source.finishTransfer(donor: Self.donor, first)
            // A second transfer is taken out of the donor but not delivered before both buckets move.
            let second = try #require(try await source.takeForTransfer(donor: Self.donor, recipient: 1))

            for bucket in [Self.donor, Self.recipient] {
                guard case .snapshot(let snapshot) = try await source.exportForHandoff(bucket) else {
                    Issue.record("\(bucket) was not exported")
                    return
                }
                #expect(try await target.importHandoff(snapshot))
            }
            // The new shard knows the unfinished transfer, and that the first one was taken in.
            #expect(try await target.unfinishedTransfers(olderThanMilliseconds: 0).map(\.transfer) == [second])
            #expect(try await source.unfinishedTransfers(olderThanMilliseconds: 0).isEmpty)
            #expect(try await target.receiveTransfer(recipient: Self.recipient, first) == false)
            #expect(try await target.receiveTransfer(recipient: Self.recipient, second) == true)
            try await target.finishTransfer(donor: Self.donor, second)
            #expect(try await target.unfinishedTransfers(olderThanMilliseconds: 0).isEmpty)
            let stocks = [try await target.skuState(Self.donor).settings.stock, try await target.skuState(Self.recipient).settings.stock]
            #expect(stocks == [2, 8])  // 10 at first; 5, then 3 moved
        }
    }
}
