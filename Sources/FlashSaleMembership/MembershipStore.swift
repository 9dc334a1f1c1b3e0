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
        // Each node's handoff progress under handoff_epoch, which decides when a change is over.
        "ALTER TABLE cluster_nodes ADD COLUMN IF NOT EXISTS handoff_epoch bigint NOT NULL DEFAULT 0",
        "ALTER TABLE cluster_nodes ADD COLUMN IF NOT EXISTS handoff_to_move bigint NOT NULL DEFAULT 0",
        "ALTER TABLE cluster_nodes ADD COLUMN IF NOT EXISTS handoff_moved bigint NOT NULL DEFAULT 0",
        "ALTER TABLE cluster_nodes ADD COLUMN IF NOT EXISTS handoff_failed bigint NOT NULL DEFAULT 0",
        "ALTER TABLE cluster_nodes ADD COLUMN IF NOT EXISTS handoff_finished boolean NOT NULL DEFAULT false",
        // The live node serving this node's shard while it is gone.
        "ALTER TABLE cluster_nodes ADD COLUMN IF NOT EXISTS adopted_by text",
        // Whether the node has ever held a lease (a joiner that has run may be adopted).
        "ALTER TABLE cluster_nodes ADD COLUMN IF NOT EXISTS has_run boolean NOT NULL DEFAULT false",
        // The shard's replica (redis_url is its primary); null for a shard without one.
        "ALTER TABLE cluster_nodes ADD COLUMN IF NOT EXISTS redis_replica_url text",
    ]

    public static func migrate(_ connection: PostgresConnection) throws {
        try connection.transaction {
            try connection.execute("SET LOCAL client_min_messages = warning")
            // The same lock as the record's schema: nodes starting together create tables one at a time.
            try connection.execute("SELECT pg_advisory_xact_lock(7262837)")
            for statement in Self.statements { try connection.execute(statement) }
        }
    }

    /// Records `node` as starting (`Membership.join` decides), takes its heartbeat lease, and
    /// answers the membership as it is afterwards with whether this call raised the epoch. Throws
    /// `MembershipStoreError.changeInProgress` while another node joins or leaves.
    public static func join(
        _ node: Membership.Node,
        leaseMilliseconds: Int,
        _ connection: PostgresConnection
    ) throws -> (membership: Membership, raisedEpoch: Bool) {
        let joined = try Self.change(connection, lease: (node.id, leaseMilliseconds)) { $0.join(node) }
        // A restart: the heartbeat takes the lease, and the shard back if a survivor adopted it.
        let reclaimed = joined ? false : try Self.heartbeat(node.id, leaseMilliseconds: leaseMilliseconds, skuCount: node.skuCount, connection).reclaimed
        return (try Self.read(connection), joined || reclaimed)
    }

    /// `POST /v1/cluster/nodes`: an operator adds a node before or after starting it. Its lease
    /// starts expired; the node takes it when it runs. Answers whether the epoch rose.
    public static func add(_ node: Membership.Node, _ connection: PostgresConnection) throws -> Bool {
        try Self.change(connection, lease: nil) { $0.join(node) }
    }

    /// `DELETE /v1/cluster/nodes/{id}`: the node starts leaving. Answers whether the epoch rose.
    public static func leave(_ id: String, _ connection: PostgresConnection) throws -> Bool {
        try Self.change(connection, lease: nil) { $0.leave(id) }
    }

    /// Ends the change in progress if every node has reported its handoffs done (`Membership.settle`).
    public static func settleIfDone(_ connection: PostgresConnection) throws -> Bool {
        try Self.change(connection, lease: nil) { membership in membership.settle().map { .record($0) } ?? .unchanged }
    }

    /// Applies what `decide` makes of the membership, in one transaction that holds the epoch row's
    /// lock (membership changes are serialised by it). `lease`: the node whose lease starts now.
    private static func change(
        _ connection: PostgresConnection,
        lease: (id: String, milliseconds: Int)?,
        decide: (Membership) -> Membership.Change
    ) throws -> Bool {
        try connection.transaction {
            guard let text = try connection.execute("SELECT epoch FROM cluster_epoch WHERE id = 1 FOR UPDATE").first?[0],
                let epoch = Int64(text)
            else { throw MembershipStoreError.malformed("cluster_epoch has no row") }
            switch decide(try Self.read(connection)) {
            case .unchanged:
                return false
            case .wait(let why):
                throw MembershipStoreError.changeInProgress(why)
            case .refuse(let why):
                throw MembershipStoreError.refused(why)
            case .unknown(let why):
                throw MembershipStoreError.unknownNode(why)
            case .record(let nodes):
                let next = epoch + 1
                try connection.execute("UPDATE cluster_epoch SET epoch = $1 WHERE id = 1", [String(next)])
                for node in nodes {
                    let leaseMilliseconds = lease?.id == node.id ? lease?.milliseconds : nil
                    try Self.write(node, leaseMilliseconds: leaseMilliseconds, epoch: next, connection)
                }
                return true
            }
        }
    }

    /// `leaseMilliseconds` nil keeps an existing row's lease (and starts a new row's expired).
    private static func write(_ node: Membership.Node, leaseMilliseconds: Int?, epoch: Int64, _ connection: PostgresConnection) throws {
        try connection.execute(
            """
            INSERT INTO cluster_nodes AS n (id, client_url, peer_address, redis_url, state, weight,
                lease_expires_at, sku_count, changed_epoch, adopted_by, has_run, redis_replica_url)
            VALUES ($1, $2, $3, $4, $5, $6, now() + coalesce($7::bigint, 0) * interval '1 millisecond', $8, $9, $10,
                $7::bigint IS NOT NULL, $11)
            ON CONFLICT (id) DO UPDATE SET client_url = EXCLUDED.client_url,
                peer_address = EXCLUDED.peer_address, redis_url = EXCLUDED.redis_url,
                redis_replica_url = EXCLUDED.redis_replica_url, state = EXCLUDED.state,
                weight = EXCLUDED.weight,
                lease_expires_at = CASE WHEN $7 IS NULL THEN n.lease_expires_at ELSE EXCLUDED.lease_expires_at END,
                has_run = n.has_run OR EXCLUDED.has_run,
                sku_count = EXCLUDED.sku_count, changed_epoch = EXCLUDED.changed_epoch, adopted_by = EXCLUDED.adopted_by
            """,
            [
                node.id, node.clientURL, node.peerAddress, node.redisURL, node.state.rawValue, String(node.weight),
                leaseMilliseconds.map { String($0) }, String(node.skuCount), String(epoch), node.adoptedBy, node.replicaURL,
            ]
        )
    }

    /// Renews the node's lease and reports its SKU count (and handoff progress, and its shard's
    /// servers as its guardian last found them: the others read the primary with the membership); answers the
    /// current epoch, so that the heartbeat is also the poll that notices a membership change a
    /// notification missed. A node whose shard a survivor adopted while it was gone takes it
    /// back here, under a new epoch (`reclaimed`).
    @discardableResult
    public static func heartbeat(
        _ nodeID: String,
        leaseMilliseconds: Int,
        skuCount: Int64,
        handoff: Membership.HandoffReport? = nil,
        shard: ShardServers? = nil,
        _ connection: PostgresConnection
    ) throws -> (epoch: Int64, reclaimed: Bool) {
        try connection.transaction {
            let rows = try connection.execute(
                """
                UPDATE cluster_nodes SET lease_expires_at = now() + $2 * interval '1 millisecond', has_run = true, sku_count = $3,
                    handoff_epoch = coalesce($4::bigint, handoff_epoch), handoff_to_move = coalesce($5::bigint, handoff_to_move),
                    handoff_moved = coalesce($6::bigint, handoff_moved), handoff_failed = coalesce($7::bigint, handoff_failed),
                    handoff_finished = coalesce($8::boolean, handoff_finished), redis_url = coalesce($9, redis_url),
                    redis_replica_url = CASE WHEN $9 IS NULL THEN redis_replica_url ELSE $10 END
                WHERE id = $1 RETURNING adopted_by IS NOT NULL
                """,
                [
                    nodeID, String(leaseMilliseconds), String(skuCount), handoff.map { String($0.epoch) },
                    handoff.map { String($0.toMove) }, handoff.map { String($0.moved) }, handoff.map { String($0.failedAttempts) },
                    handoff.map { $0.isFinished ? "true" : "false" }, shard?.primary, shard?.replica,
                ]
            )
            guard let row = rows.first else { throw MembershipStoreError.notAMember(nodeID) }
            if row[0] == "t" {
                let epoch = try Self.raiseEpoch(connection)
                try connection.execute("UPDATE cluster_nodes SET adopted_by = NULL, changed_epoch = $2 WHERE id = $1", [nodeID, String(epoch)])
                return (epoch, true)
            }
            guard let epoch = Int64(try connection.execute("SELECT epoch FROM cluster_epoch WHERE id = 1").first?[0] ?? "") else {
                throw MembershipStoreError.malformed("cluster_epoch has no row")
            }
            return (epoch, false)
        }
    }

    /// The handoff progress of gone node `nodeID`'s shard, reported by the node that adopted it
    /// (and only while it still serves it).
    public static func recordHandoff(
        _ report: Membership.HandoffReport,
        of nodeID: String,
        adoptedBy adopter: String,
        _ connection: PostgresConnection
    ) throws {
        try connection.execute(
            """
            UPDATE cluster_nodes SET handoff_epoch = $3, handoff_to_move = $4, handoff_moved = $5, handoff_failed = $6,
                handoff_finished = $7
            WHERE id = $1 AND adopted_by = $2
            """,
            [
                nodeID, adopter, String(report.epoch), String(report.toMove), String(report.moved), String(report.failedAttempts),
                report.isFinished ? "true" : "false",
            ]
        )
    }

    /// The servers of gone node `nodeID`'s shard, as the node that adopted it found them (its
    /// guardian promoted the replica, say); only while it still serves it.
    public static func recordShard(
        _ shard: ShardServers,
        of nodeID: String,
        adoptedBy adopter: String,
        _ connection: PostgresConnection
    ) throws {
        try connection.execute(
            "UPDATE cluster_nodes SET redis_url = $3, redis_replica_url = $4 WHERE id = $1 AND adopted_by = $2",
            [nodeID, adopter, shard.primary, shard.replica]
        )
    }

    /// `adopter` serves the shard of `nodeID`, which is gone, under a new epoch. Checked again
    /// under the epoch row's lock: nothing happens (false) unless the node's lease has still
    /// expired and no live node serves its shard.
    public static func adopt(_ nodeID: String, by adopter: String, _ connection: PostgresConnection) throws -> Bool {
        try connection.transaction {
            _ = try connection.execute("SELECT epoch FROM cluster_epoch WHERE id = 1 FOR UPDATE")
            let membership = try Self.read(connection)
            guard membership.shardsToAdopt(by: adopter).contains(where: { $0.id == nodeID }) else { return false }
            let epoch = try Self.raiseEpoch(connection)
            try connection.execute(
                "UPDATE cluster_nodes SET adopted_by = $2, changed_epoch = $3 WHERE id = $1", [nodeID, adopter, String(epoch)]
            )
            return true
        }
    }

    private static func raiseEpoch(_ connection: PostgresConnection) throws -> Int64 {
        guard let text = try connection.execute("UPDATE cluster_epoch SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch").first?[0],
            let epoch = Int64(text)
        else { throw MembershipStoreError.malformed("cluster_epoch has no row") }
        return epoch
    }

    /// The whole membership in one statement, so the epoch and the rows are one snapshot.
    public static func read(_ connection: PostgresConnection) throws -> Membership {
        let rows = try connection.execute(
            """
            SELECT e.epoch, n.id, n.client_url, n.peer_address, n.redis_url, n.state, n.weight,
                n.lease_expires_at > now(), n.sku_count, n.handoff_epoch, n.handoff_to_move, n.handoff_moved,
                n.handoff_failed, n.handoff_finished, n.adopted_by, n.has_run, n.redis_replica_url
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
                let skuCount = row[8].flatMap({ Int64($0) }),
                let handoff = Optional(row[9...12].compactMap { $0.flatMap { Int64($0) } }), handoff.count == 4
            else { throw MembershipStoreError.malformed("cluster_nodes row \(id)") }
            return Membership.Node(
                id: id,
                clientURL: clientURL,
                peerAddress: peerAddress,
                redisURL: redisURL,
                replicaURL: row[16],
                state: state,
                weight: weight,
                isLive: row[7] == "t",
                skuCount: skuCount,
                handoff: .init(
                    epoch: handoff[0], toMove: handoff[1], moved: handoff[2], failedAttempts: handoff[3], isFinished: row[13] == "t"
                ),
                adoptedBy: row[14],
                hasRun: row[15] == "t"
            )
        }
        return Membership(epoch: epoch, nodes: nodes)
    }
}

public enum MembershipStoreError: Error, Sendable, Hashable {
    case malformed(String)
    /// The node's row is gone: an operator removed it.
    case notAMember(String)
    /// Another node is joining or leaving; try again when it is done.
    case changeInProgress(String)
    /// A change that can never be made (the last active node).
    case refused(String)
    /// A change of a node that is not a member.
    case unknownNode(String)
}
