import FlashSaleCore
import FlashSalePostgres
import FlashSaleRecord
import FlashSaleRedis
import FlashSaleTesting
import Foundation
import Logging
import Testing

@testable import FlashSaleSync

/// The syncer against a real Redis shard and a real PostgreSQL.
@Suite struct SyncerTests {
    static var logger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .error
        return logger
    }

    /// Polls until `condition` holds, for at most `seconds`.
    static func eventually(seconds: Double = 15, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    @Test func afterASaleTheRecordHoldsEveryReservationOnceAndTheCountersAgree() async throws {
        let shard = try await TestShard.start(scriptTime: .supplied)
        let postgres = try PostgresServer()
        let store = shard.store
        let syncer = Syncer(
            configuration: .init(nodeID: "n1", redisURL: { [url = shard.server.url] in url }, leaseTTL: .seconds(2), batchSizeMax: 50),
            postgresURL: postgres.url,
            localStore: shard.store,
            logger: Self.logger
        )
        let running = Task { try await syncer.run() }

        _ = try await store.defineSKU("hot", settings: SKUSettings(stock: 60, perUserLimit: 2, reservationTtlSeconds: 1))
        _ = try await store.defineSKU("cold", settings: SKUSettings(stock: 5))
        var committed: Set<String> = []
        var all: [Reservation] = []
        for buyer in 0..<80 {
            guard let receipt = try? await store.reserve(sku: "hot", user: "u\(buyer % 40)", quantity: 1, requestId: "q\(buyer)") else { continue }
            all.append(receipt.reservation)
            switch buyer % 3 {
            case 0: _ = try await store.commit(sku: "hot", id: receipt.reservation.id); committed.insert(receipt.reservation.id)
            case 1: _ = try await store.release(sku: "hot", id: receipt.reservation.id)
            default: break  // left to expire
            }
        }
        _ = try await store.reserve(sku: "cold", user: "x", quantity: 1, requestId: "c1")
        try await shard.advanceScriptClock(by: .seconds(1))
        _ = try await store.sweep(skusPerCall: 10, reservationsPerSKU: 1000)
        let hot = try await store.skuState("hot")
        #expect(hot.reserved == 0 && Int(hot.committed) == committed.count)

        let reader = try PostgresConnection(url: postgres.url)
        let caughtUp = try await Self.eventually {
            let rows = (try? reader.execute("SELECT stock, reserved, committed FROM inventory WHERE sku = 'hot'")) ?? []
            return rows == [[String(hot.settings.stock), String(hot.reserved), String(hot.committed)]]
        }
        #expect(caughtUp, "the inventory row never matched the shard's counters")
        let statuses = try reader.execute("SELECT id, status FROM reservations WHERE sku = 'hot'")
        #expect(statuses.count == all.count, "every reservation is in the record once")
        #expect(Set(statuses.filter { $0[1] == "committed" }.compactMap { $0[0] }) == committed)
        #expect(statuses.allSatisfy { $0[1] != "reserved" }, "no reservation is left reserved after expiry")
        #expect(try reader.execute("SELECT stock, reserved, committed FROM inventory WHERE sku = 'cold'") == [["5", "1", "0"]])
        // The outbox is trimmed only up to what the record holds.
        #expect(try await Self.eventually { (try await shard.client.send(["XLEN", "fs:outbox"]).integer ?? 99) <= 1 })
        #expect(syncer.clusterStatus.leader == "n1")

        // The audit agrees, and finds a difference planted in the record.
        let audit = RecordAudit(postgresURL: postgres.url, logger: Self.logger)
        #expect(try await audit.run() == .caughtUp([]))
        try reader.execute("UPDATE inventory SET committed = committed + 1 WHERE sku = 'hot'")
        guard case .caughtUp(let differences) = try await audit.run() else {
            Issue.record("the audit says the syncer is behind")
            return
        }
        #expect(differences.map(\.sku) == ["hot"])

        running.cancel()
        _ = try? await running.value
        await shard.close()
    }

    /// PostgreSQL going away does not stop sales; when it returns, the record catches up.
    @Test func salesGoOnWhilePostgresIsDownAndTheRecordCatchesUp() async throws {
        let shard = try await TestShard.start()
        let postgres = try PostgresServer()
        let store = shard.store
        let syncer = Syncer(
            configuration: .init(nodeID: "n1", redisURL: { [url = shard.server.url] in url }, leaseTTL: .seconds(2)),
            postgresURL: postgres.url,
            localStore: store,
            logger: Self.logger
        )
        let running = Task { try await syncer.run() }
        _ = try await store.defineSKU("s", settings: SKUSettings(stock: 1000, perUserLimit: 1000))
        let audit = RecordAudit(postgresURL: postgres.url, logger: Self.logger)
        #expect(try await Self.eventually { (try? await audit.run()) == .caughtUp([]) })

        postgres.kill()
        var acknowledged: [Reservation] = []
        for attempt in 0..<200 {
            let reservation = try await store.reserve(sku: "s", user: "u", quantity: 1, requestId: "q\(attempt)").reservation
            acknowledged.append(attempt % 2 == 0 ? try await store.commit(sku: "s", id: reservation.id) : reservation)
        }
        #expect(acknowledged.count == 200, "every reservation was accepted with PostgreSQL down")
        #expect((try await shard.client.send(["XLEN", "fs:outbox"]).integer ?? 0) >= 300, "the outbox kept the changes")

        try postgres.start()
        #expect(try await Self.eventually { (try? await audit.run()) == .caughtUp([]) }, "the record did not catch up")
        let reader = try PostgresConnection(url: postgres.url)
        #expect(try reader.execute("SELECT count(*), count(*) FILTER (WHERE status = 'committed') FROM reservations") == [["200", "100"]])
        running.cancel()
        _ = try? await running.value
        await shard.close()
    }

    /// A registered shard whose Redis is gone does not hold up the record of the others.
    @Test func anUnreachableShardDoesNotHoldUpTheOthers() async throws {
        let shard = try await TestShard.start()
        let postgres = try PostgresServer()
        let setup = try PostgresConnection(url: postgres.url)
        try RecordSchema.migrate(setup)
        try RecordWriter(holder: "gone").register(setup, redisURL: "redis://127.0.0.1:\(ServerProcess.freePort())")
        let syncer = Syncer(
            configuration: .init(nodeID: "n1", redisURL: { [url = shard.server.url] in url }, leaseTTL: .seconds(2)),
            postgresURL: postgres.url,
            localStore: shard.store,
            logger: Self.logger
        )
        let running = Task { try await syncer.run() }
        _ = try await shard.store.defineSKU("s", settings: SKUSettings(stock: 3))
        _ = try await shard.store.reserve(sku: "s", user: "u", quantity: 1, requestId: "1")
        #expect(try await Self.eventually {
            (try? setup.execute("SELECT reserved FROM inventory WHERE sku = 's'")) == [["1"]]
        })
        running.cancel()
        _ = try? await running.value
        await shard.close()
    }
}
