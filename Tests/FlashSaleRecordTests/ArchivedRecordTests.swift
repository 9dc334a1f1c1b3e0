import FlashSaleCore
import FlashSalePostgres
import FlashSaleRecord
import FlashSaleTesting
import Testing

/// What an archived SKU's owner answers from the record: the rule without I/O, and the queries
/// against a real PostgreSQL written by the record's own writer.
@Suite struct ArchivedRecordTests {
    static func row(_ status: ReservationStatus) -> Reservation {
        Reservation(id: "r1", sku: "s", user: "u", quantity: 2, status: status, expiresAtMilliseconds: 1_798_106_400_123, requestId: "q1")
    }

    @Test func theRecordAnswersAsTheShardDid() {
        // A repeated requestId gets its reservation back; a new one finds the sale over.
        #expect(ArchivedRecord.answer(.reserve(sku: "s", user: "u", quantity: 2, requestId: "q1"), row: Self.row(.committed))
            == .receipt(.init(reservation: Self.row(.committed), isNew: false)))
        #expect(ArchivedRecord.answer(.reserve(sku: "s", user: "v", quantity: 1, requestId: "new"), row: nil) == .failure(.saleEnded))
        #expect(ArchivedRecord.answer(.reservation(sku: "s", id: "r1"), row: Self.row(.expired)) == .reservation(Self.row(.expired)))
        #expect(ArchivedRecord.answer(.reservation(sku: "s", id: "r9"), row: nil) == .failure(.unknownReservation))
        // Commands meet the final status as the lifecycle says.
        let table: [(SaleOperation, ReservationStatus, SaleOutcome)] = [
            (.commit(sku: "s", id: "r1"), .committed, .reservation(Self.row(.committed))),
            (.release(sku: "s", id: "r1"), .committed, .failure(.refused(.committed))),
            (.commit(sku: "s", id: "r1"), .released, .failure(.refused(.released))),
            (.release(sku: "s", id: "r1"), .released, .reservation(Self.row(.released))),
            (.commit(sku: "s", id: "r1"), .expired, .failure(.refused(.expired))),
            (.release(sku: "s", id: "r1"), .expired, .failure(.refused(.expired))),
        ]
        for (operation, status, expected) in table {
            #expect(ArchivedRecord.answer(operation, row: Self.row(status)) == expected, "\(operation) on \(status)")
        }
        #expect(ArchivedRecord.answer(.defineSKU(sku: "s", settings: .init(stock: 1)), row: nil) == .failure(.archived))
    }

    @Test func flushStateAndAnswersFromARealRecord() async throws {
        let server = try PostgresServer()
        let connection = try PostgresConnection(url: server.url)
        try RecordSchema.migrate(connection)
        let writer = RecordWriter(holder: "a")
        let epoch = try #require(try writer.acquire(connection, ttlMilliseconds: 5000))
        let bucket = SKUBuckets.name(of: "split", bucket: 1)
        let events = [
            OutboxEvent(
                streamID: "1-1", sku: "whole", stock: 5, reserved: 1, committed: 0, skuVersion: 2,
                reservation: .init(id: "ra", user: "u", quantity: 1, status: "reserved", requestId: "qa", expiresAtMilliseconds: 1_798_106_400_123, version: 1)
            ),
            OutboxEvent(
                streamID: "1-2", sku: "whole", stock: 5, reserved: 0, committed: 1, skuVersion: 3,
                reservation: .init(id: "ra", user: "u", quantity: 1, status: "committed", requestId: "qa", expiresAtMilliseconds: 1_798_106_400_123, version: 2)
            ),
            OutboxEvent(
                streamID: "1-3", sku: bucket, stock: 3, reserved: 1, committed: 0, skuVersion: 4,
                reservation: .init(
                    id: SKUBuckets.reservationID("rb", bucket: 1), user: "v", quantity: 1, status: "reserved", requestId: "qb",
                    expiresAtMilliseconds: 1_798_106_400_000, version: 1
                )
            ),
        ]
        _ = try writer.flush(connection, shard: "n1", events: events, epoch: epoch, lagMilliseconds: 0, inventoryRetriesMax: 3)
        let postgres = PostgresClient(url: server.url)
        let record = ArchivedRecord(postgres: postgres)
        #expect(try await record.flushState(of: "whole") == .init(inventoryVersion: 3, reservations: 1, versionSum: 2))
        #expect(try await record.flushState(of: bucket) == .init(inventoryVersion: 4, reservations: 1, versionSum: 1))
        #expect(try await record.flushState(of: SKUBuckets.name(of: "split", bucket: 0)) == .init(inventoryVersion: nil, reservations: 0, versionSum: 0))
        #expect(try await record.flushState(of: "never") == .init(inventoryVersion: nil, reservations: 0, versionSum: 0))

        let committed = Reservation(
            id: "ra", sku: "whole", user: "u", quantity: 1, status: .committed, expiresAtMilliseconds: 1_798_106_400_123, requestId: "qa"
        )
        #expect(await record.answer(.reserve(sku: "whole", user: "u", quantity: 1, requestId: "qa")) == .receipt(.init(reservation: committed, isNew: false)))
        #expect(await record.answer(.reserve(sku: "whole", user: "w", quantity: 1, requestId: "other")) == .failure(.saleEnded))
        #expect(await record.answer(.release(sku: "whole", id: "ra")) == .failure(.refused(.committed)))
        // A bucket's reservation is recorded under its SKU's name and answered under the bucket's.
        let held = await record.answer(.reservation(sku: bucket, id: SKUBuckets.reservationID("rb", bucket: 1)))
        #expect(held == .reservation(.init(
            id: SKUBuckets.reservationID("rb", bucket: 1), sku: bucket, user: "v", quantity: 1, status: .reserved,
            expiresAtMilliseconds: 1_798_106_400_000, requestId: "qb"
        )))
        await postgres.stop()
        server.kill()
    }
}
