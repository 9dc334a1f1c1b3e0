public import FlashSaleCluster
public import FlashSalePostgres

/// The membership in PostgreSQL: one row per node and one epoch that rises with every change of
/// membership. PostgreSQL is the one strongly consistent place the nodes share, and the record
/// needs it anyway. Every function runs on a `PostgresClient`'s thread.
public enum MembershipStore {
    static let statements = [
        "CREATE TABLE IF NOT EXISTS cluster_epoch (id int PRIMARY KEY CHECK (id = 1), epoch bigint NOT NULL)",
        // lease_expires_at is the node's heartbeat lease, on PostgreSQL's clock.
        """
        CREATE TABLE IF NOT EXISTS cluster_nodes (
            id text PRIMARY KEY, client_url text NOT NULL, peer_address text NOT NULL, redis_url text NOT NULL,
            state text NOT NULL CHECK (state IN ('joining', 'active', 'leaving', 'down')),
            weight double precision NOT NULL CHECK (weight > 0), lease_expires_at timestamptz NOT NULL,
            sku_count bigint NOT NULL, changed_epoch bigint NOT NULL)
        """,
        "INSERT INTO cluster_epoch (id, epoch) VALUES (1, 0) ON CONFLICT DO NOTHING",
    ]

    public static func migrate(_ connection: PostgresConnection) throws {
        try connection.transaction {
            try connection.execute("SET LOCAL client_min_messages = warning")
            // The same lock as the record's schema: nodes starting together create tables one at a time.
            try connection.execute("SELECT pg_advisory_xact_lock(7262837)")
            for statement in Self.statements { try connection.execute(statement) }
        }
    }

    /// Records `node` as starting (Membership.join decides whether that is a new epoch), takes its
    /// heartbeat lease, and answers the membership as it is afterwards with whether this call raised the epoch.
    public static func join(
        _ node: Membership.Node,
        leaseMilliseconds: Int,
        _ connection: PostgresConnection
    ) throws -> (membership: Membership, raisedEpoch: Bool) {
        let raised: Bool = try connection.transaction {
            // The epoch row's lock serialises membership changes.
            guard let text = try connection.execute("SELECT epoch FROM cluster_epoch WHERE id = 1 FOR UPDATE").first?[0],
                let epoch = Int64(text ?? "")
            else { throw MembershipStoreError.malformed("cluster_epoch has no row") }
            let existing = try Self.read(connection).node(node.id)
            switch Membership.join(node, existing: existing) {
            case .unchanged:
                try Self.heartbeat(node.id, leaseMilliseconds: leaseMilliseconds, skuCount: node.skuCount, connection)
                return false
            case .record(let recorded, let newEpoch):
                let next = newEpoch ? epoch + 1 : epoch
                try connection.execute("UPDATE cluster_epoch SET epoch = $1 WHERE id = 1", [String(next)])
                try connection.execute(
                    """
                    INSERT INTO cluster_nodes AS n (id, client_url, peer_address, redis_url, state, weight,
                        lease_expires_at, sku_count, changed_epoch)
                    VALUES ($1, $2, $3, $4, $5, $6, now() + $7 * interval '1 millisecond', $8, $9)
                    ON CONFLICT (id) DO UPDATE SET client_url = EXCLUDED.client_url,
                        peer_address = EXCLUDED.peer_address, redis_url = EXCLUDED.redis_url, state = EXCLUDED.state,
                        weight = EXCLUDED.weight, lease_expires_at = EXCLUDED.lease_expires_at,
                        sku_count = EXCLUDED.sku_count, changed_epoch = EXCLUDED.changed_epoch
                    """,
                    [
                        recorded.id, recorded.clientURL, recorded.peerAddress, recorded.redisURL, recorded.state.rawValue,
                        String(recorded.weight), String(leaseMilliseconds), String(recorded.skuCount), String(next),
                    ]
                )
                return newEpoch
            }
        }
        return (try Self.read(connection), raised)
    }

    /// Renews the node's lease and reports its SKU count; answers the current epoch, so that the
    /// heartbeat is also the poll that notices a membership change a notification missed.
    @discardableResult
    public static func heartbeat(
        _ nodeID: String,
        leaseMilliseconds: Int,
        skuCount: Int64,
        _ connection: PostgresConnection
    ) throws -> Int64 {
        let rows = try connection.execute(
            """
            WITH beat AS (
                UPDATE cluster_nodes SET lease_expires_at = now() + $2 * interval '1 millisecond', sku_count = $3
                WHERE id = $1 RETURNING id)
            SELECT e.epoch, (SELECT count(*) FROM beat) FROM cluster_epoch e WHERE e.id = 1
            """,
            [nodeID, String(leaseMilliseconds), String(skuCount)]
        )
        guard let row = rows.first, let epoch = Int64(row[0] ?? ""), row[1] == "1" else {
            throw MembershipStoreError.notAMember(nodeID)
        }
        return epoch
    }

    /// The whole membership in one statement, so the epoch and the rows are one snapshot.
    public static func read(_ connection: PostgresConnection) throws -> Membership {
        let rows = try connection.execute(
            """
            SELECT e.epoch, n.id, n.client_url, n.peer_address, n.redis_url, n.state, n.weight,
                n.lease_expires_at > now(), n.sku_count
            FROM cluster_epoch e LEFT JOIN cluster_nodes n ON true WHERE e.id = 1 ORDER BY n.id
            """
        )
        guard let first = rows.first, let epoch = Int64(first[0] ?? "") else {
            throw MembershipStoreError.malformed("cluster_epoch has no row")
        }
        let nodes = try rows.compactMap { row -> Membership.Node? in
            guard let id = row[1] else { return nil }
            guard let clientURL = row[2], let peerAddress = row[3], let redisURL = row[4],
                let state = row[5].flatMap(Membership.NodeState.init(rawValue:)), let weight = row[6].flatMap(Double.init),
                let skuCount = row[8].flatMap({ Int64($0) })
            else { throw MembershipStoreError.malformed("cluster_nodes row \(id)") }
            return Membership.Node(
                id: id,
                clientURL: clientURL,
                peerAddress: peerAddress,
                redisURL: redisURL,
                state: state,
                weight: weight,
                isLive: row[7] == "t",
                skuCount: skuCount
            )
        }
        return Membership(epoch: epoch, nodes: nodes)
    }
}

public enum MembershipStoreError: Error, Sendable, Hashable {
    case malformed(String)
    /// The node's row is gone: an operator removed it.
    case notAMember(String)
}
