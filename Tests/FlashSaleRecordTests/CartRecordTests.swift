import FlashSaleCore
import FlashSalePostgres
import FlashSaleRecord
import FlashSaleTesting
import Foundation
import Testing

/// Carts' rows against a real PostgreSQL: written once per id, read back as they were, fenced by
/// their version, and claimed by one node at a time once their recovery time has passed.
@Suite struct CartRecordTests {
    static func progress(_ id: String = "cart-1") -> CartProgress {
        CartProgress(cartID: id, user: "ann", items: [.init(sku: "console", quantity: 1), .init(sku: "pad \"x\"", quantity: 2)])
    }

    static func held(_ id: String, expiresAt: Int64) -> Result<Reservation, SaleError> {
        .success(Reservation(id: id, sku: "s", user: "ann", quantity: 1, status: .reserved, expiresAtMilliseconds: expiresAt, requestId: "r"))
    }

    @Test func aCartIsWrittenOnceReadBackAsItWasAndFencedByItsVersion() throws {
        let postgres = try PostgresServer()
        defer { postgres.kill() }
        let connection = try PostgresConnection(url: postgres.url)
        try RecordSchema.migrate(connection)
        var progress = Self.progress()
        let row = CartRecord.Row(requestId: "q1", progress: progress, version: 1, coordinator: "n1")
        #expect(try CartRecord.insert(row, recoverAfter: .milliseconds(10_000), connection))
        #expect(try !CartRecord.insert(row, recoverAfter: .milliseconds(10_000), connection), "one row per cart id")
        #expect(try CartRecord.read("cart-1", connection) == row)

        _ = progress.start()
        _ = progress.answered(.reserve(item: 0), Self.held("r0", expiresAt: 1_800_000_000_000))
        _ = progress.answered(.reserve(item: 1), .failure(.notStarted(opensInMilliseconds: 1500)))
        let version = try #require(try CartRecord.update(progress, version: 1, coordinator: "n1", recoverAfter: .milliseconds(10_000), connection))
        #expect(version == 2)
        let read = try #require(try CartRecord.read("cart-1", connection))
        #expect(read.progress == progress && read.version == 2)
        #expect(read.progress.refusal?.error == .notStarted(opensInMilliseconds: 1500))
        // A held cart released with one item found expired reads back so.
        var released = CartProgress(cartID: "cart-2", user: "ann", items: [.init(sku: "a", quantity: 1), .init(sku: "b", quantity: 1)])
        _ = released.start()
        _ = released.answered(.reserve(item: 0), Self.held("a0", expiresAt: 1))
        _ = released.answered(.reserve(item: 1), Self.held("b0", expiresAt: 1))
        let calls = released.release()
        _ = released.answered(calls[0], Self.held("a0", expiresAt: 1))
        _ = released.answered(calls[1], .failure(.refused(.expired)))
        #expect(try CartRecord.insert(.init(requestId: "q2", progress: released, version: 1, coordinator: "n1"), recoverAfter: .never, connection))
        #expect(try CartRecord.read("cart-2", connection)?.progress == released)
        // A node that wrote under version 1 was taken over: its write is refused.
        #expect(try CartRecord.update(progress, version: 1, coordinator: "n9", recoverAfter: .never, connection) == nil)
        #expect(try CartRecord.read("nothing", connection) == nil)
    }

    @Test func cartsPastTheirRecoveryTimeAreClaimedByOneNode() async throws {
        let postgres = try PostgresServer()
        defer { postgres.kill() }
        let connection = try PostgresConnection(url: postgres.url)
        try RecordSchema.migrate(connection)
        for (id, after) in [("cart-soon", CartRecord.RecoverAfter.milliseconds(100)), ("cart-later", .milliseconds(60_000)), ("cart-done", .never)] {
            _ = try CartRecord.insert(.init(requestId: id, progress: Self.progress(id), version: 1, coordinator: "n1"), recoverAfter: after, connection)
        }
        // A held cart is claimed once its expiry has passed.
        let pastMilliseconds = Int64(Date().timeIntervalSince1970 * 1000) - 1000
        _ = try CartRecord.insert(
            .init(requestId: "h", progress: Self.progress("cart-expired"), version: 1, coordinator: "n1"), recoverAfter: .instant(pastMilliseconds),
            connection
        )
        try await Task.sleep(for: .milliseconds(200))
        let claimed = try CartRecord.claim(by: "n2", limit: 10, leaseMilliseconds: 5000, connection)
        #expect(Set(claimed.map(\.progress.cartID)) == ["cart-soon", "cart-expired"])
        #expect(claimed.allSatisfy { $0.coordinator == "n2" && $0.version == 2 })
        #expect(try CartRecord.claim(by: "n3", limit: 10, leaseMilliseconds: 5000, connection).isEmpty, "claimed by one node at a time")
    }
}
