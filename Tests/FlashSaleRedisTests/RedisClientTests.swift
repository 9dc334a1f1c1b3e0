import FlashSaleCore
import FlashSaleRedis
import FlashSaleTesting
import Synchronization
import Testing

@Suite struct RedisClientTests {
    @Test func concurrentRequestsSharePipelinedRoundTrips() async throws {
        let shard = try await TestShard.start(connections: 1)
        _ = try await shard.client.send(["PING"])
        let before = shard.client.roundTripCount
        let replies = try await withThrowingTaskGroup(of: RedisReply.self) { group in
            for index in 0..<2000 {
                group.addTask { try await shard.client.send(["ECHO", "m\(index)"]) }
            }
            return try await group.reduce(into: [RedisReply]()) { $0.append($1) }
        }
        #expect(Set(replies.compactMap(\.string)) == Set((0..<2000).map { "m\($0)" }))
        let roundTrips = shard.client.roundTripCount - before
        #expect(roundTrips < 2000, "2000 requests took \(roundTrips) round trips")
        await shard.close()
    }

    @Test func commandsOfOneRequestAnswerInOrder() async throws {
        let shard = try await TestShard.start()
        let replies = try await shard.client.send([["SET", "k", "1"], ["INCR", "k"], ["GET", "k"], ["NOSUCHCOMMAND"]])
        #expect(replies[0] == .string("OK"))
        #expect(replies[1] == .integer(2))
        #expect(replies[2] == .string("2"))
        guard case .error = replies[3] else { Issue.record("expected an error reply, got \(replies[3])"); return }
        await shard.close()
    }

    @Test func aScriptCacheFlushIsRepairedByReloading() async throws {
        let shard = try await TestShard.start()
        _ = try await shard.store.defineSKU("s", settings: SKUSettings(stock: 2))
        _ = try await shard.client.send(["SCRIPT", "FLUSH"])
        #expect(try await shard.store.reserve(sku: "s", user: "u", quantity: 1, requestId: "1").isNew)
        await shard.close()
    }
}

@Suite struct RedisCrashTests {
    /// appendfsync always: every acknowledged reservation survives SIGKILL of Redis.
    @Test func killingRedisLosesNoAcknowledgedReservation() async throws {
        let shard = try await TestShard.start()
        let store = shard.store
        _ = try await store.defineSKU("s", settings: SKUSettings(stock: 100_000, perUserLimit: 1_000_000))
        // Reservations keep arriving while Redis is killed; only the acknowledged ones count. It is
        // killed once 50 are acknowledged (at most 10 s on a busy machine), not at a fixed time.
        let killed = StopFlag()
        let acknowledgedSoFar = AcknowledgedCount()
        let acknowledged = await withTaskGroup(of: [Reservation].self) { group in
            for worker in 0..<8 {
                group.addTask {
                    var mine: [Reservation] = []
                    var attemptsAfterKill = 0
                    for attempt in 0..<20_000 where attemptsAfterKill < 20 {
                        if killed.isSet { attemptsAfterKill += 1 }
                        if let receipt = try? await store.reserve(sku: "s", user: "w\(worker)", quantity: 1, requestId: "w\(worker)-\(attempt)") {
                            mine.append(receipt.reservation)
                            acknowledgedSoFar.count.add(1, ordering: .relaxed)
                        }
                    }
                    return mine
                }
            }
            group.addTask {
                let deadline = ContinuousClock.now + .seconds(10)
                while acknowledgedSoFar.count.load(ordering: .relaxed) < 50, ContinuousClock.now < deadline {
                    try? await Task.sleep(for: .milliseconds(10))
                }
                shard.server.kill()
                killed.set()
                return []
            }
            return await group.reduce(into: [Reservation]()) { $0.append(contentsOf: $1) }
        }
        try #require(!acknowledged.isEmpty)

        // While Redis is down, the store answers unavailable, never a guess.
        await #expect(throws: SaleError.self) { try await store.skuState("s") }
        do {
            _ = try await store.skuState("s")
        } catch SaleError.unavailable {
        } catch {
            Issue.record("expected unavailable, got \(error)")
        }

        try shard.server.start()
        var recovered = false
        for _ in 0..<100 where !recovered {
            recovered = (try? await store.skuState("s")) != nil
            if !recovered { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(recovered, "the client did not reconnect after Redis restarted")
        for reservation in acknowledged {
            #expect(try await store.reservation(sku: "s", id: reservation.id) == reservation)
        }
        let state = try await store.skuState("s")
        #expect(state.reserved >= Int64(acknowledged.count))
        // A retry of an acknowledged request is still recognised after the restart.
        let retried = try await store.reserve(sku: "s", user: "w0", quantity: 1, requestId: acknowledged[0].requestId)
        #expect(!retried.isNew && retried.reservation == acknowledged[0])
        await shard.close()
    }
}

/// How many reservations the crash test's workers have had acknowledged so far.
private final class AcknowledgedCount: Sendable {
    let count = Atomic<Int>(0)
}
