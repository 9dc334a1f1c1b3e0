public import FlashSalePostgres

/// The PostgreSQL record: the fixed tables `inventory` and `reservations` (shared/DESIGN.md 3b)
/// and the syncer's own. Created at start-up by every node; an advisory lock serialises nodes
/// that start together.
public enum RecordSchema {
    static let statements = [
        """
        CREATE TABLE IF NOT EXISTS inventory (
            sku text PRIMARY KEY, stock bigint NOT NULL, reserved bigint NOT NULL,
            committed bigint NOT NULL, version bigint NOT NULL)
        """,
        """
        CREATE TABLE IF NOT EXISTS reservations (
            id text PRIMARY KEY, sku text NOT NULL, user_id text NOT NULL, quantity int NOT NULL,
            status text NOT NULL, request_id text NOT NULL, expires_at timestamptz NOT NULL,
            version bigint NOT NULL, updated_at timestamptz NOT NULL)
        """,
        // An archived SKU's owner finds a repeated requestId's reservation here.
        "CREATE INDEX IF NOT EXISTS reservations_by_request_id ON reservations (sku, request_id)",
        // The buckets of split SKUs: each one's counters, newest version only; a split SKU's
        // inventory row is their sum.
        """
        CREATE TABLE IF NOT EXISTS inventory_buckets (
            sku text NOT NULL, bucket int NOT NULL, stock bigint NOT NULL, reserved bigint NOT NULL,
            committed bigint NOT NULL, version bigint NOT NULL, PRIMARY KEY (sku, bucket))
        """,
        // One row: who leads the syncer, under which fencing epoch, until when (PostgreSQL's clock).
        """
        CREATE TABLE IF NOT EXISTS syncer_lease (
            id int PRIMARY KEY CHECK (id = 1), holder text NOT NULL, epoch bigint NOT NULL,
            expires_at timestamptz NOT NULL, lag_ms bigint)
        """,
        // How far each shard's outbox is in the record; written in the same transaction as the rows.
        """
        CREATE TABLE IF NOT EXISTS outbox_positions (
            shard text PRIMARY KEY, last_id text NOT NULL, updated_at timestamptz NOT NULL)
        """,
        // The shards whose outboxes the leader flushes; every node registers its own.
        """
        CREATE TABLE IF NOT EXISTS shards (
            node_id text PRIMARY KEY, redis_url text NOT NULL, registered_at timestamptz NOT NULL)
        """,
        // Carts (issue 17): the coordinator's intent before it reserves, and where each item
        // stands; `version` fences a coordinator another node took the cart from. A cart whose
        // recover_after has passed is finished or undone by whichever node claims it.
        """
        CREATE TABLE IF NOT EXISTS carts (
            id text PRIMARY KEY, user_id text NOT NULL, request_id text NOT NULL, phase text NOT NULL,
            items jsonb NOT NULL, version bigint NOT NULL, coordinator text NOT NULL,
            recover_after timestamptz, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL)
        """,
        "CREATE INDEX IF NOT EXISTS carts_to_recover ON carts (recover_after) WHERE recover_after IS NOT NULL",
    ]

    public static func migrate(_ connection: PostgresConnection) throws {
        try connection.transaction {
            // "relation already exists, skipping" on every start after the first is noise in the node's log.
            try connection.execute("SET LOCAL client_min_messages = warning")
            try connection.execute("SELECT pg_advisory_xact_lock(7262837)")
            for statement in Self.statements { try connection.execute(statement) }
        }
    }
}
