import FlashSaleCore
import FlashSaleRedis
import FlashSaleTesting
import Foundation
import Testing

/// A shard with a replica: a store whose client waits for the replica acknowledges a reservation
/// only once the replica has it, and answers 503 (unavailable) rather than acknowledge a write the
/// replica does not have.
@Suite(.serialized) struct ReplicationTests {
    @Test func anAcknowledgedReservationIsOnTheReplicaAlready() async throws {
        let primary = try RedisServer()
        let replica = try RedisServer(replicaOf: primary.port)
        try await primary.waitUntilReplicated()
        let client = primary.client(connections: 2, replication: .init(replicas: 1, timeoutMilliseconds: 2000))
        let store = SKUStore.quiet(on: client)
        let onReplica = replica.client()
        _ = try await store.defineSKU("shoe", settings: SKUSettings(stock: 1_000, perUserLimit: 1_000))
        let ids = try await withThrowingTaskGroup(of: String.self) { group in
            for buyer in 0..<200 {
                group.addTask {
                    let receipt = try await store.reserve(sku: "shoe", user: "u\(buyer)", quantity: 1, requestId: "q\(buyer)")
                    // Read on the replica the moment the primary's answer is given.
                    let held = try await onReplica.send(["HEXISTS", "fs:{shoe}:res", receipt.reservation.id]).integer
                    #expect(held == 1, "\(receipt.reservation.id) acknowledged before the replica had it")
                    return receipt.reservation.id
                }
            }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(ids.count == 200)
        #expect(try await onReplica.send(["HGET", "fs:{shoe}:meta", "reserved"]).string == "200")
        await onReplica.stop()
        await client.stop()
        replica.kill()
        primary.kill()
    }

    @Test func withoutItsReplicaTheShardAcknowledgesNothingAndARetryFindsTheWriteLater() async throws {
        let primary = try RedisServer()
        var replica = try RedisServer(replicaOf: primary.port)
        try await primary.waitUntilReplicated()
        let client = primary.client(connections: 2, replication: .init(replicas: 1, timeoutMilliseconds: 1000))
        let store = SKUStore.quiet(on: client)
        _ = try await store.defineSKU("shoe", settings: SKUSettings(stock: 10, perUserLimit: 2))
        // One reservation while the replica is up, so the script is loaded and the next one runs.
        _ = try await store.reserve(sku: "shoe", user: "bob", quantity: 1, requestId: "bob-1")

        replica.kill()
        do {
            _ = try await store.reserve(sku: "shoe", user: "ann", quantity: 1, requestId: "ann-1")
            Issue.record("a reservation was acknowledged with no replica")
        } catch {
            guard case .unavailable(let why) = error else { throw error }
            #expect(why.contains("replica"), "\(why)")
        }
        // The write ran on the primary: the choice of availability over the replica sees it.
        let unreplicated = primary.client()
        let available = SKUStore.quiet(on: unreplicated)
        #expect(try await available.skuState("shoe").reserved == 2)

        // A replica again: the retry answers the reservation the first try made, once replicated.
        replica = try RedisServer(replicaOf: primary.port)
        try await primary.waitUntilReplicated()
        let retried = try await store.reserve(sku: "shoe", user: "ann", quantity: 1, requestId: "ann-1")
        #expect(!retried.isNew)
        #expect(try await store.skuState("shoe").reserved == 2)
        await unreplicated.stop()
        await client.stop()
        replica.kill()
        primary.kill()
    }
}
