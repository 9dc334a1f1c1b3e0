import FlashSaleCore
@testable import FlashSaleNode
import FlashSaleRedis
import FlashSaleTesting
import Logging
import Testing

/// A split SKU's sale on one real Redis shard (its buckets are SKUs like any other, so one shard
/// can hold them all; the cluster tests spread them over nodes): the buyers get exactly the stock
/// between them, the per-user limit stays exact, transfers fill a bucket that runs dry, and a read
/// adds the buckets up.
struct SplitSKUOperationsTests {
    static let settings = SKUSettings(stock: 30, perUserLimit: 1, reservationTtlSeconds: 600, buckets: 3)

    /// Users whose bucket of three is `bucket`.
    static func users(inBucket bucket: Int, count: Int) -> [String] {
        var users: [String] = []
        var index = 0
        while users.count < count {
            if SKUBuckets.bucket(of: "user-\(index)", buckets: 3) == bucket { users.append("user-\(index)") }
            index += 1
        }
        return users
    }

    @Test func twoHundredBuyersOfASplitSKUGetExactlyItsStock() async throws {
        try await TestShard.withShards(1) { shards in
            let operations = SplitSKUOperations(routed: shards[0].store)
            let definition = try await operations.defineSKU("tv", settings: Self.settings)
            #expect(definition.isNew && definition.state.settings == Self.settings && definition.state.available == 30)
            let outcomes = await withTaskGroup(of: String.self) { group in
                for index in 0..<200 {
                    group.addTask {
                        do {
                            let receipt = try await operations.reserve(sku: "tv", user: "u\(index)", quantity: 1, requestId: "q\(index)")
                            return receipt.reservation.sku == "tv" && receipt.isNew ? "created" : "wrong"
                        } catch SaleError.soldOut {
                            return "sold_out"
                        } catch {
                            return "\(error)"
                        }
                    }
                }
                return await group.reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
            }
            #expect(outcomes == ["created": 30, "sold_out": 170])
            let state = try await operations.skuState("tv")
            #expect(state.settings.stock == 30 && state.reserved == 30 && state.available == 0 && state.settings.buckets == 3)
        }
    }

    @Test func buyersAllInOneBucketBuyTheWholeStockThroughTransfers() async throws {
        try await TestShard.withShards(1) { shards in
            let store = shards[0].store
            let operations = SplitSKUOperations(routed: store)
            _ = try await operations.defineSKU("tv", settings: Self.settings)
            var reservations: [Reservation] = []
            for user in Self.users(inBucket: 2, count: 31) {
                do {
                    reservations.append(try await operations.reserve(sku: "tv", user: user, quantity: 1, requestId: "q-\(user)").reservation)
                } catch SaleError.soldOut {
                    #expect(reservations.count == 30, "sold out after \(reservations.count) of 30")
                }
            }
            #expect(reservations.count == 30)
            #expect(try await store.unfinishedTransfers(olderThanMilliseconds: 0).isEmpty)
            let buckets = try await (0..<3).asyncMap { try await store.skuState(SKUBuckets.name(of: "tv", bucket: $0)) }
            #expect(buckets.map(\.settings.stock) == [0, 0, 30])

            // Reads, commits and releases find the bucket from the id; a released unit sells again.
            let first = reservations[0]
            #expect(SKUBuckets.bucket(ofReservation: first.id) == 2)
            #expect(try await operations.commit(sku: "tv", id: first.id).status == .committed)
            let released = try await operations.release(sku: "tv", id: reservations[1].id)
            #expect(released.status == .released && released.sku == "tv")
            #expect(try await operations.reservation(sku: "tv", id: reservations[2].id).status == .reserved)
            let latecomer = Self.users(inBucket: 0, count: 1)[0]
            #expect(try await operations.reserve(sku: "tv", user: latecomer, quantity: 1, requestId: "late").isNew)
            let state = try await operations.skuState("tv")
            #expect(state.settings.stock == 30 && state.committed == 1 && state.reserved == 29)
        }
    }

    @Test func thePerUserLimitAndRepeatedRequestsStayExact() async throws {
        try await TestShard.withShards(1) { shards in
            let operations = SplitSKUOperations(routed: shards[0].store)
            _ = try await operations.defineSKU("tv", settings: Self.settings)
            let first = try await operations.reserve(sku: "tv", user: "ann", quantity: 1, requestId: "q1")
            let repeated = try await operations.reserve(sku: "tv", user: "ann", quantity: 1, requestId: "q1")
            #expect(!repeated.isNew && repeated.reservation == first.reservation)
            await #expect(throws: SaleError.limitExceeded) {
                _ = try await operations.reserve(sku: "tv", user: "ann", quantity: 1, requestId: "q2")
            }
            #expect(try await operations.skuState("tv").reserved == 1)
        }
    }

    @Test func aDefineInterruptedBetweenItsStepsIsCompletedByTheNextOne() async throws {
        try await TestShard.withShards(1) { shards in
            let store = shards[0].store
            // The SKU's own entry and one bucket exist; the node died before the others.
            _ = try await store.defineSKU("tv", settings: Self.settings)
            _ = try await store.defineSKU(SKUBuckets.name(of: "tv", bucket: 0), settings: SKUSettings(stock: 10, perUserLimit: 1))
            _ = try await store.reserve(sku: SKUBuckets.name(of: "tv", bucket: 0), user: "ann", quantity: 1, requestId: "q1")
            let operations = SplitSKUOperations(routed: store)
            await #expect(throws: SaleError.self) { _ = try await operations.skuState("tv") }
            let definition = try await operations.defineSKU("tv", settings: Self.settings)
            #expect(definition.state.settings.stock == 30 && definition.state.reserved == 1)
        }
    }

    /// A bucket whose node cannot answer is passed over: the others still fill the dry bucket,
    /// and once they are empty the answer is "retry", never `sold_out` while that bucket may have stock.
    @Test func aDonorThatCannotAnswerIsPassedOverAndNeverMakesASoldOut() async throws {
        try await TestShard.withShards(1) { shards in
            let operations = SplitSKUOperations(routed: RoutedStores(shards[0].store, unreachableDonor: SKUBuckets.name(of: "tv", bucket: 0)))
            _ = try await operations.defineSKU("tv", settings: Self.settings)
            var outcomes: [String: Int] = [:]
            for user in Self.users(inBucket: 2, count: 25) {
                do {
                    _ = try await operations.reserve(sku: "tv", user: user, quantity: 1, requestId: "q-\(user)")
                    outcomes["created", default: 0] += 1
                } catch SaleError.unavailable {
                    outcomes["unavailable", default: 0] += 1
                } catch {
                    outcomes["\(error)", default: 0] += 1
                }
            }
            // Bucket 2's own 10, then bucket 1's 10 moved over; bucket 0's 10 are out of reach.
            #expect(outcomes == ["created": 20, "unavailable": 5])
        }
    }

    @Test func aTransferLeftHalfDoneIsFinishedByTheRecovery() async throws {
        try await TestShard.withShards(1) { shards in
            let store = shards[0].store
            let operations = SplitSKUOperations(routed: store)
            _ = try await operations.defineSKU("tv", settings: Self.settings)
            // Taken out of bucket 0 for bucket 1, and its node died before delivering it.
            let taken = try #require(try await store.takeForTransfer(donor: SKUBuckets.name(of: "tv", bucket: 0), recipient: 1))
            #expect(try await operations.skuState("tv").settings.stock == 25)
            var logger = Logger(label: "test")
            logger.logLevel = .error
            let recovery = TransferRecovery(shards: { [store] }, operations: operations, clock: SystemClock(), logger: logger, unfinishedForMilliseconds: 0)
            await recovery.finishUnfinished()
            #expect(try await store.unfinishedTransfers(olderThanMilliseconds: 0).isEmpty)
            #expect(try await store.skuState(SKUBuckets.name(of: "tv", bucket: 1)).settings.stock == 10 + taken.units)
            #expect(try await operations.skuState("tv").settings.stock == 30)
        }
    }

    /// A transfer out of a bucket whose node is gone waits in that node's shard; the survivor that
    /// adopted the shard scans it too and finishes the transfer.
    @Test func aTransferLeftHalfDoneInAnAdoptedShardIsFinishedByItsAdopter() async throws {
        try await TestShard.withShards(2) { shards in
            let (own, adopted) = (shards[0].store, shards[1].store)
            let operations = SplitSKUOperations(routed: RoutedStores(first: own, second: adopted))
            _ = try await operations.defineSKU("tv", settings: Self.settings)
            // Bucket 1 lives in the adopted shard; its node died after taking units out for bucket 0.
            let taken = try #require(try await adopted.takeForTransfer(donor: SKUBuckets.name(of: "tv", bucket: 1), recipient: 0))
            var logger = Logger(label: "test")
            logger.logLevel = .error
            await TransferRecovery(shards: { [own] }, operations: operations, clock: SystemClock(), logger: logger, unfinishedForMilliseconds: 0).finishUnfinished()
            #expect(try await operations.skuState("tv").settings.stock == 30 - taken.units)
            await TransferRecovery(shards: { [own, adopted] }, operations: operations, clock: SystemClock(), logger: logger, unfinishedForMilliseconds: 0).finishUnfinished()
            #expect(try await operations.skuState("tv").settings.stock == 30)
            #expect(try await adopted.unfinishedTransfers(olderThanMilliseconds: 0).isEmpty)
        }
    }
}

/// Stores reached by SKU name, as routing reaches shards, with one donor bucket whose node is
/// cut off for transfers.
struct RoutedStores: SaleOperations {
    let store: @Sendable (String) -> SKUStore
    var unreachableDonor: String?

    /// One store for everything.
    init(_ store: SKUStore, unreachableDonor: String? = nil) {
        self.store = { _ in store }
        self.unreachableDonor = unreachableDonor
    }

    /// Bucket 1 of every split SKU in `second`, everything else in `first`.
    init(first: SKUStore, second: SKUStore) {
        self.store = { SKUBuckets.parse($0)?.bucket == 1 ? second : first }
    }

    func run(_ operation: SaleOperation) async -> SaleOutcome {
        if case .takeForTransfer(let donor, _) = operation, donor == self.unreachableDonor {
            return .failure(.unavailable("\(donor)'s node is cut off"))
        }
        return await self.store(operation.sku).run(operation)
    }
}

extension Range where Bound == Int {
    func asyncMap<T>(_ transform: (Int) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
