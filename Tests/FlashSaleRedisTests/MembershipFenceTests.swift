import FlashSaleCore
import FlashSaleRedis
import FlashSaleTesting
import Logging
import Synchronization
import Testing

/// The shard's membership fence: a caller whose epoch is older than the newest the shard has been
/// told of is refused by every SKU script, before it changes anything.
struct MembershipFenceTests {
    final class Epoch: Sendable {
        let value = Atomic<Int64>(0)
    }

    @Test func aCallerWithAnOlderMembershipIsRefusedByTheShard() async throws {
        let shard = try await TestShard.start()
        // Closed (its redis-server stopped) whether the checks pass or throw: a `defer` can only
        // start a task that nothing waits for, which left redis-server running after the run.
        do {
            try await Self.checkTheFence(shard)
        } catch {
            await shard.close()
            throw error
        }
        await shard.close()
    }

    static func checkTheFence(_ shard: TestShard) async throws {
        let epoch = Epoch()
        epoch.value.store(2, ordering: .relaxed)
        let store = SKUStore(scripts: ScriptRunner(client: shard.client), logger: Logger(label: "test"), callerEpoch: {
            epoch.value.load(ordering: .relaxed)
        })
        _ = try await store.defineSKU("a", settings: SKUSettings(stock: 10, perUserLimit: 5))
        let held = try await store.reserve(sku: "a", user: "u", quantity: 1, requestId: "q1").reservation

        #expect(try await store.recordEpoch(3) == 3)
        #expect(try await store.recordEpoch(1) == 3, "the shard's epoch went back")
        let refused = SaleError.staleMembership(shardEpoch: 3)
        await #expect(throws: refused) { try await store.defineSKU("a", settings: SKUSettings(stock: 1)) }
        await #expect(throws: refused) { try await store.skuState("a") }
        await #expect(throws: refused) { try await store.reserve(sku: "a", user: "u", quantity: 1, requestId: "q2") }
        await #expect(throws: refused) { try await store.reservation(sku: "a", id: held.id) }
        await #expect(throws: refused) { try await store.commit(sku: "a", id: held.id) }
        await #expect(throws: refused) { try await store.release(sku: "a", id: held.id) }
        // Nothing changed while refused.
        let state = try await shard.store.skuState("a")
        #expect(state.settings.stock == 10 && state.reserved == 1)

        epoch.value.store(3, ordering: .relaxed)
        #expect(try await store.commit(sku: "a", id: held.id).status == .committed)

        // Another node's join tells the shard directly.
        #expect(try await ShardEpoch.record(5, redisURL: shard.server.url) == 5)
        await #expect(throws: SaleError.staleMembership(shardEpoch: 5)) { try await store.skuState("a") }
    }
}
