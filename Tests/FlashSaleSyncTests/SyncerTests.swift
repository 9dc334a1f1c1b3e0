import FlashSaleCore
import FlashSalePostgres
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
            configuration: .init(nodeID: "n1", redisURL: shard.server.url, leaseTTL: .seconds(2), batchSizeMax: 50),
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
            configuration: .init(nodeID: "n1", redisURL: shard.server.url, leaseTTL: .seconds(2)),
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
            configuration: .init(nodeID: "n1", redisURL: shard.server.url, leaseTTL: .seconds(2)),
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

    /// A deposed leader (its lease expired and another node took it) cannot commit a flush.
    @Test func aFencedLeaderWritesNothing() async throws {
        let postgres = try PostgresServer()
        let connection = try PostgresConnection(url: postgres.url)
        try RecordSchema.migrate(connection)
        let old = RecordWriter(holder: "a")
        let new = RecordWriter(holder: "b")
        let oldEpoch = try #require(try old.acquire(connection, ttlMilliseconds: 200))
        #expect(try new.acquire(connection, ttlMilliseconds: 200) == nil, "a live lease cannot be taken")
        try await Task.sleep(for: .milliseconds(300))
        let newEpoch = try #require(try new.acquire(connection, ttlMilliseconds: 5000))
        #expect(newEpoch > oldEpoch)
        #expect(try !old.renew(connection, epoch: oldEpoch, ttlMilliseconds: 5000))

        let event = OutboxEvent(
            streamID: "1-1", sku: "s", stock: 10, reserved: 1, committed: 0, skuVersion: 2,
            reservation: .init(id: "r1", user: "u", quantity: 1, status: "reserved", requestId: "q", expiresAtMilliseconds: 0, version: 1)
        )
        #expect(throws: SyncError.fenced) {
            try old.flush(connection, shard: "n1", events: [event], epoch: oldEpoch, lagMilliseconds: 0, inventoryRetriesMax: 1)
        }
        #expect(try connection.execute("SELECT count(*) FROM reservations") == [["0"]])
        #expect(try connection.execute("SELECT count(*) FROM outbox_positions") == [["0"]])
        // The same node restarted (same holder) also gets a new epoch, fencing its earlier run.
        let again = try #require(try new.acquire(connection, ttlMilliseconds: 5000))
        #expect(again > newEpoch)
        #expect(throws: SyncError.fenced) {
            try new.flush(connection, shard: "n1", events: [event], epoch: newEpoch, lagMilliseconds: 0, inventoryRetriesMax: 1)
        }
        _ = try new.flush(connection, shard: "n1", events: [event], epoch: again, lagMilliseconds: 0, inventoryRetriesMax: 1)
        #expect(try connection.execute("SELECT status, version FROM reservations WHERE id = 'r1'") == [["reserved", "1"]])
    }

    /// Replaying events (a new leader starting from the stored position, or a retried batch)
    /// never moves a row backwards and never writes one twice.
    @Test func replayedAndOutOfOrderEventsAreIdempotent() async throws {
        let postgres = try PostgresServer()
        let connection = try PostgresConnection(url: postgres.url)
        try RecordSchema.migrate(connection)
        let writer = RecordWriter(holder: "a")
        let epoch = try #require(try writer.acquire(connection, ttlMilliseconds: 5000))
        func event(_ id: String, status: String, version: Int64, skuVersion: Int64, committed: Int64) -> OutboxEvent {
            OutboxEvent(
                streamID: "\(skuVersion)-0", sku: "s", stock: 10, reserved: 1 - committed, committed: committed, skuVersion: skuVersion,
                reservation: .init(id: id, user: "u", quantity: 1, status: status, requestId: "q", expiresAtMilliseconds: 0, version: version)
            )
        }
        let reserved = event("r1", status: "reserved", version: 1, skuVersion: 2, committed: 0)
        let committed = event("r1", status: "committed", version: 2, skuVersion: 3, committed: 1)
        _ = try writer.flush(connection, shard: "n1", events: [reserved, committed], epoch: epoch, lagMilliseconds: 0, inventoryRetriesMax: 1)
        _ = try writer.flush(connection, shard: "n1", events: [reserved], epoch: epoch, lagMilliseconds: 0, inventoryRetriesMax: 1)
        #expect(try connection.execute("SELECT status, version FROM reservations") == [["committed", "2"]])
        #expect(try connection.execute("SELECT reserved, committed, version FROM inventory") == [["0", "1", "3"]])
    }
}
