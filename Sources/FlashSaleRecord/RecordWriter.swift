import FlashSaleCore
public import FlashSalePostgres

/// The syncer's statements against PostgreSQL. Every method runs on the PostgreSQL client's thread.
public struct RecordWriter: Sendable {
    public let holder: String

    public init(holder: String) {
        self.holder = holder
    }

    public struct LeaseView: Sendable, Hashable {
        public var holder: String
        public var epoch: Int64
        public var lagMilliseconds: Int64?
        public var isLive: Bool
    }

    /// Takes the lease when it has expired or is already ours; always with a new, higher epoch,
    /// which fences every earlier holder, even an earlier run of this same node.
    public func acquire(_ connection: PostgresConnection, ttlMilliseconds: Int64) throws -> Int64? {
        let rows = try connection.execute(
            """
            INSERT INTO syncer_lease (id, holder, epoch, expires_at)
            VALUES (1, $1, 1, now() + $2 * interval '1 millisecond')
            ON CONFLICT (id) DO UPDATE SET holder = EXCLUDED.holder, epoch = syncer_lease.epoch + 1,
                expires_at = EXCLUDED.expires_at
            WHERE syncer_lease.expires_at < now() OR syncer_lease.holder = EXCLUDED.holder
            RETURNING epoch
            """,
            [self.holder, String(ttlMilliseconds)]
        )
        return rows.first?.first.flatMap { $0.flatMap { Int64($0) } }
    }

    /// Extends the lease if it is still ours at this epoch and has not run out.
    public func renew(_ connection: PostgresConnection, epoch: Int64, ttlMilliseconds: Int64) throws -> Bool {
        try !connection.execute(
            """
            UPDATE syncer_lease SET expires_at = now() + $3 * interval '1 millisecond'
            WHERE id = 1 AND holder = $1 AND epoch = $2 AND expires_at > now() RETURNING epoch
            """,
            [self.holder, String(epoch), String(ttlMilliseconds)]
        ).isEmpty
    }

    public func lease(_ connection: PostgresConnection) throws -> LeaseView? {
        let rows = try connection.execute("SELECT holder, epoch, lag_ms, expires_at > now() FROM syncer_lease WHERE id = 1")
        guard let row = rows.first, let holder = row[0], let epoch = row[1].flatMap({ Int64($0) }) else { return nil }
        return LeaseView(holder: holder, epoch: epoch, lagMilliseconds: row[2].flatMap { Int64($0) }, isLive: row[3] == "t")
    }

    /// Where the leader reads node `nodeID`'s shard (this writer's node unless given: an adopter
    /// registers the primary it promoted for a gone node).
    public func register(_ connection: PostgresConnection, shardOf nodeID: String? = nil, redisURL: String) throws {
        try connection.execute(
            """
            INSERT INTO shards (node_id, redis_url, registered_at) VALUES ($1, $2, now())
            ON CONFLICT (node_id) DO UPDATE SET redis_url = EXCLUDED.redis_url, registered_at = now()
            """,
            [nodeID ?? self.holder, redisURL]
        )
    }

    public func shards(_ connection: PostgresConnection) throws -> [(nodeID: String, redisURL: String)] {
        try connection.execute("SELECT node_id, redis_url FROM shards ORDER BY node_id").compactMap { row in
            guard let id = row[0], let url = row[1] else { return nil }
            return (id, url)
        }
    }

    public func position(_ connection: PostgresConnection, shard: String) throws -> String? {
        try connection.execute("SELECT last_id FROM outbox_positions WHERE shard = $1", [shard]).first?.first ?? nil
    }

    /// Writes a batch of one shard's outbox in one transaction that first checks, under a row lock,
    /// that the lease is still ours at `epoch`. Reservations are upserted by id, newer versions only;
    /// each SKU's inventory row by optimistic lock on its version; the shard's position last.
    /// Returns how many inventory updates had to retry.
    public func flush(
        _ connection: PostgresConnection,
        shard: String,
        events: [OutboxEvent],
        epoch: Int64,
        lagMilliseconds: Int64,
        inventoryRetriesMax: Int
    ) throws -> Int {
        guard let last = events.last else { return 0 }
        return try connection.transaction {
            let fence = try connection.execute(
                "SELECT 1 FROM syncer_lease WHERE id = 1 AND holder = $1 AND epoch = $2 AND expires_at > now() FOR UPDATE",
                [self.holder, String(epoch)]
            )
            guard !fence.isEmpty else { throw RecordError.fenced }

            var latestReservation: [String: OutboxEvent.ReservationFields] = [:]
            var latestSKU: [String: OutboxEvent] = [:]
            for event in events {
                if let reservation = event.reservation, reservation.version > latestReservation[reservation.id]?.version ?? 0 {
                    latestReservation[reservation.id] = reservation
                }
                if event.skuVersion > latestSKU[event.sku]?.skuVersion ?? 0 { latestSKU[event.sku] = event }
            }
            if !latestReservation.isEmpty {
                // A bucket's reservations are its SKU's.
                let skuOf = Dictionary(
                    events.compactMap { event in event.reservation.map { ($0.id, SKUBuckets.sku(of: event.sku)) } },
                    uniquingKeysWith: { a, _ in a }
                )
                // One JSON parameter for json_to_recordset: the whole batch in one statement and round trip.
                let rows = latestReservation.values.map { r in
                    JSONWriter.object {
                        $0.field("id", r.id)
                        $0.field("sku", skuOf[r.id] ?? "")
                        $0.field("user_id", r.user)
                        $0.field("quantity", r.quantity)
                        $0.field("status", r.status)
                        $0.field("request_id", r.requestId)
                        $0.field("expires_at_ms", r.expiresAtMilliseconds)
                        $0.field("version", r.version)
                    }
                }
                try connection.execute(
                    """
                    INSERT INTO reservations (id, sku, user_id, quantity, status, request_id, expires_at, version, updated_at)
                    SELECT id, sku, user_id, quantity, status, request_id, to_timestamp(expires_at_ms / 1000.0), version, now()
                    FROM json_to_recordset($1::json) AS r(id text, sku text, user_id text, quantity int, status text,
                        request_id text, expires_at_ms bigint, version bigint)
                    ON CONFLICT (id) DO UPDATE SET sku = EXCLUDED.sku, user_id = EXCLUDED.user_id,
                        quantity = EXCLUDED.quantity, status = EXCLUDED.status, request_id = EXCLUDED.request_id,
                        expires_at = EXCLUDED.expires_at, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
                    WHERE reservations.version < EXCLUDED.version
                    """,
                    [JSONWriter.array(rows)]
                )
            }
            var retries = 0
            for event in latestSKU.values {
                retries += try self.updateInventory(connection, event, retriesMax: inventoryRetriesMax)
            }
            try connection.execute(
                """
                INSERT INTO outbox_positions (shard, last_id, updated_at) VALUES ($1, $2, now())
                ON CONFLICT (shard) DO UPDATE SET last_id = EXCLUDED.last_id, updated_at = now()
                """,
                [shard, last.streamID]
            )
            try connection.execute("UPDATE syncer_lease SET lag_ms = $1 WHERE id = 1", [String(lagMilliseconds)])
            return retries
        }
    }

    /// Optimistic lock: read the row's version, write only `WHERE version = $expected`, retry
    /// (bounded) when another writer moved it. A row already at a newer version is left alone.
    /// A split SKU's own entry has no counters of its own; a bucket's event updates the bucket's
    /// row, and its SKU's inventory row becomes the sum of the buckets' rows.
    private func updateInventory(_ connection: PostgresConnection, _ event: OutboxEvent, retriesMax: Int) throws -> Int {
        guard event.buckets == 1 else { return 0 }
        guard let (sku, bucket) = SKUBuckets.parse(event.sku) else {
            let counters = [event.sku, String(event.stock), String(event.reserved), String(event.committed)]
            return try self.writeInventory(connection, counters, version: event.skuVersion, retriesMax: retriesMax)
        }
        try connection.execute(
            """
            INSERT INTO inventory_buckets (sku, bucket, stock, reserved, committed, version) VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (sku, bucket) DO UPDATE SET stock = EXCLUDED.stock, reserved = EXCLUDED.reserved,
                committed = EXCLUDED.committed, version = EXCLUDED.version
            WHERE inventory_buckets.version < EXCLUDED.version
            """,
            [sku, String(bucket), String(event.stock), String(event.reserved), String(event.committed), String(event.skuVersion)]
        )
        let sums = try connection.execute(
            "SELECT sum(stock), sum(reserved), sum(committed) FROM inventory_buckets WHERE sku = $1",
            [sku]
        )
        guard let row = sums.first, row.count == 3 else { throw RecordError.inventoryConflict(sku) }
        return try self.writeInventory(connection, [sku, row[0] ?? "0", row[1] ?? "0", row[2] ?? "0"], version: nil, retriesMax: retriesMax)
    }

    /// Writes `counters` (sku, stock, reserved, committed) into the SKU's inventory row under the
    /// optimistic lock, at `version`, or (nil: a split SKU's sum) at the row's version plus one.
    private func writeInventory(_ connection: PostgresConnection, _ counters: [String], version: Int64?, retriesMax: Int) throws -> Int {
        let sku = counters[0]
        for attempt in 0...retriesMax {
            let current = try connection.execute("SELECT version FROM inventory WHERE sku = $1", [sku])
            if let row = current.first, let expected = row[0].flatMap({ Int64($0) }) {
                if let version, expected >= version { return attempt }
                let updated = try connection.execute(
                    """
                    UPDATE inventory SET stock = $2, reserved = $3, committed = $4, version = $5
                    WHERE sku = $1 AND version = $6 RETURNING sku
                    """,
                    counters + [String(version ?? expected + 1), String(expected)]
                )
                if !updated.isEmpty { return attempt }
            } else {
                let inserted = try connection.execute(
                    """
                    INSERT INTO inventory (sku, stock, reserved, committed, version) VALUES ($1, $2, $3, $4, $5)
                    ON CONFLICT (sku) DO NOTHING RETURNING sku
                    """,
                    counters + [String(version ?? 1)]
                )
                if !inserted.isEmpty { return attempt }
            }
        }
        throw RecordError.inventoryConflict(sku)
    }
}

public enum RecordError: Error, Sendable, Hashable {
    /// The lease at this epoch is no longer ours: the flush was not written.
    case fenced
    /// The inventory row kept changing under the optimistic lock.
    case inventoryConflict(String)
    /// A row the code cannot read.
    case malformed(String)
}
