import FlashSaleCore
import FlashSalePostgres
import FlashSaleRecord
import FlashSaleTesting
import Testing

/// The record's statements against a real PostgreSQL: the fence, the idempotent upserts, and
/// the reads the audit and the load checker compare the shards with.
@Suite struct RecordWriterTests {
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
        #expect(throws: RecordError.fenced) {
            try old.flush(connection, shard: "n1", events: [event], epoch: oldEpoch, lagMilliseconds: 0, inventoryRetriesMax: 1)
        }
        #expect(try connection.execute("SELECT count(*) FROM reservations") == [["0"]])
        #expect(try connection.execute("SELECT count(*) FROM outbox_positions") == [["0"]])
        // The same node restarted (same holder) also gets a new epoch, fencing its earlier run.
        let again = try #require(try new.acquire(connection, ttlMilliseconds: 5000))
        #expect(again > newEpoch)
        #expect(throws: RecordError.fenced) {
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

    /// What the writer wrote reads back as rows: the SKU's, its buckets', every reservation's.
    @Test func theRecordReadsBackWhatWasWritten() async throws {
        let postgres = try PostgresServer()
        let connection = try PostgresConnection(url: postgres.url)
        try RecordSchema.migrate(connection)
        let writer = RecordWriter(holder: "a")
        let epoch = try #require(try writer.acquire(connection, ttlMilliseconds: 5000))
        let events = [
            OutboxEvent(
                streamID: "1-0", sku: "s", stock: 10, reserved: 1, committed: 0, skuVersion: 2,
                reservation: .init(id: "r1", user: "u", quantity: 1, status: "reserved", requestId: "q1", expiresAtMilliseconds: 0, version: 1)
            ),
            OutboxEvent(
                streamID: "2-0", sku: "t", stock: 4, reserved: 0, committed: 2, skuVersion: 5,
                reservation: .init(id: "r2", user: "v", quantity: 2, status: "committed", requestId: "q2", expiresAtMilliseconds: 0, version: 2)
            ),
            OutboxEvent(
                streamID: "3-0", sku: SKUBuckets.name(of: "b", bucket: 1), stock: 3, reserved: 1, committed: 0, skuVersion: 1,
                reservation: .init(id: "r3", user: "w", quantity: 1, status: "reserved", requestId: "q3", expiresAtMilliseconds: 0, version: 1)
            ),
        ]
        _ = try writer.flush(connection, shard: "n1", events: events, epoch: epoch, lagMilliseconds: 0, inventoryRetriesMax: 1)
        let inventory = try RecordReader.inventory(connection)
        #expect(inventory.filter { $0.sku != "b" } == [
            .init(sku: "s", stock: 10, reserved: 1, committed: 0, version: 2),
            .init(sku: "t", stock: 4, reserved: 0, committed: 2, version: 5),
        ])
        // A split SKU: its bucket's row, and its own row holding the buckets' sum.
        #expect(inventory.filter { $0.bucket != nil } == [.init(sku: "b", bucket: 1, stock: 3, reserved: 1, committed: 0, version: 1)])
        #expect(inventory.filter { $0.sku == "b" && $0.bucket == nil }.map { [$0.stock, $0.reserved, $0.committed] } == [[3, 1, 0]])
        #expect(try RecordReader.reservations(connection) == [
            .init(id: "r1", sku: "s", status: .reserved),
            .init(id: "r2", sku: "t", status: .committed),
            .init(id: "r3", sku: "b", status: .reserved),
        ])
    }
}
