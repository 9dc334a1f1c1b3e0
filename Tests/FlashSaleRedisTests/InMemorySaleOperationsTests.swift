import FlashSaleCore
import FlashSaleRedis
import FlashSaleTesting
import Foundation
import Testing

/// The test kit's in-memory sale answers as a real shard does: one sale, step by step, on both,
/// with every answer compared (reservation ids and expiry instants aside, which each makes its own).
struct InMemorySaleOperationsTests {
    /// A step of the sale: the operation, given the reservation ids made so far by requestId.
    typealias Step = @Sendable ([String: String]) -> SaleOperation

    static let steps: [Step] = [
        { _ in .defineSKU(sku: "s", settings: SKUSettings(stock: 3, perUserLimit: 2, reservationTtlSeconds: 600)) },
        { _ in .reserve(sku: "s", user: "ann", quantity: 1, requestId: "a1") },
        { _ in .reserve(sku: "s", user: "ann", quantity: 1, requestId: "a1") },
        { _ in .reserve(sku: "s", user: "ann", quantity: 2, requestId: "a2") },
        { _ in .reserve(sku: "s", user: "bob", quantity: 1, requestId: "b1") },
        { _ in .reserve(sku: "s", user: "cat", quantity: 1, requestId: "c1") },
        { _ in .reserve(sku: "s", user: "dan", quantity: 1, requestId: "d1") },
        { ids in .commit(sku: "s", id: ids["a1"]!) },
        { ids in .commit(sku: "s", id: ids["a1"]!) },
        { ids in .release(sku: "s", id: ids["a1"]!) },
        { ids in .release(sku: "s", id: ids["b1"]!) },
        { ids in .commit(sku: "s", id: ids["b1"]!) },
        { ids in .reservation(sku: "s", id: ids["c1"]!) },
        { _ in .reservation(sku: "s", id: "nosuchreservation") },
        { _ in .skuState(sku: "s") },
        { _ in .defineSKU(sku: "s", settings: SKUSettings(stock: 1, perUserLimit: 2, reservationTtlSeconds: 600)) },
        { _ in .defineSKU(sku: "s", settings: SKUSettings(stock: 10, perUserLimit: 1, reservationTtlSeconds: 60)) },
        { _ in .reserve(sku: "s", user: "ann", quantity: 1, requestId: "a3") },
        { _ in .reserve(sku: "other", user: "ann", quantity: 1, requestId: "o1") },
        { _ in .skuState(sku: "other") },
    ]

    /// The answers of `operations` to the steps, with ids and expiry instants blanked.
    static func answers(of operations: any SaleOperations) async -> [SaleOutcome] {
        var ids: [String: String] = [:]
        var answers: [SaleOutcome] = []
        for step in Self.steps {
            var outcome = await operations.run(step(ids))
            switch outcome {
            case .receipt(var receipt):
                ids[receipt.reservation.requestId] = receipt.reservation.id
                receipt.reservation.id = ""
                receipt.reservation.expiresAtMilliseconds = 0
                outcome = .receipt(receipt)
            case .reservation(var reservation):
                reservation.id = ""
                reservation.expiresAtMilliseconds = 0
                outcome = .reservation(reservation)
            default:
                break
            }
            answers.append(outcome)
        }
        return answers
    }

    @Test func itAnswersEveryStepOfASaleAsARealShardDoes() async throws {
        let memory = InMemorySaleOperations(nowMilliseconds: { Int64(Date().timeIntervalSince1970 * 1000) })
        let expected = await Self.answers(of: memory)
        try await TestShard.withShards(1) { shards in
            let real = await Self.answers(of: shards[0].store)
            #expect(real.count == expected.count)
            for (index, (shard, inMemory)) in zip(real, expected).enumerated() {
                #expect(shard == inMemory, "step \(index): the shard answered \(shard), the in-memory sale \(inMemory)")
            }
        }
        // The sale reached every kind of answer it compares.
        #expect(expected.contains(.failure(.soldOut)) && expected.contains(.failure(.limitExceeded)))
        #expect(expected.contains(.failure(.refused(.committed))) && expected.contains(.failure(.refused(.released))))
        #expect(expected.contains(.failure(.stockBelowSold(reservedAndCommitted: 2))) && expected.contains(.failure(.unknownSKU)))
    }

    @Test func aReservationExpiresOnTheCallersClock() async throws {
        let now = ManualMilliseconds(1_000_000)
        let memory = InMemorySaleOperations(nowMilliseconds: { now.value })
        _ = try await memory.defineSKU("s", settings: SKUSettings(stock: 1, perUserLimit: 1, reservationTtlSeconds: 1))
        let reservation = try await memory.reserve(sku: "s", user: "ann", quantity: 1, requestId: "a1").reservation
        #expect(reservation.expiresAtMilliseconds == 1_001_000)
        now.value = 1_001_000
        #expect(try await memory.skuState("s").available == 1)
        await #expect(throws: SaleError.refused(.expired)) { _ = try await memory.commit(sku: "s", id: reservation.id) }
    }
}

/// Milliseconds a test sets by hand.
final class ManualMilliseconds: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Int64

    init(_ value: Int64) { self.stored = value }

    var value: Int64 {
        get { self.lock.withLock { self.stored } }
        set { self.lock.withLock { self.stored = newValue } }
    }
}
