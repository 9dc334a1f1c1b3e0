public import FlashSaleCore
public import FlashSalePostgres

/// The record's side of archiving. Before a shard archives a SKU, `flushState` says how much of
/// it the record holds; afterwards the SKU's owner answers reads of its reservations from here:
/// `answer` turns the record's row into exactly what the shard would have answered (the
/// reservation's status is final, so nothing can change it any more).
public struct ArchivedRecord: Sendable {
    private let postgres: PostgresClient

    public init(postgres: PostgresClient) {
        self.postgres = postgres
    }

    /// What the record holds of a SKU or a split SKU's bucket: the version of its inventory row
    /// (nil when it has none yet) and how many reservations, with the sum of their versions.
    public struct FlushState: Sendable, Hashable {
        public var inventoryVersion: Int64?
        public var reservations: Int64
        public var versionSum: Int64

        public init(inventoryVersion: Int64?, reservations: Int64, versionSum: Int64) {
            self.inventoryVersion = inventoryVersion
            self.reservations = reservations
            self.versionSum = versionSum
        }
    }

    /// `sku` as the shard names it: a bucket's reservations are recorded under its SKU's own name,
    /// each id ending in the bucket's mark.
    public func flushState(of sku: String) async throws -> FlushState {
        try await self.postgres.withConnection { connection in
            let inventory: [[String?]]
            let counts: [[String?]]
            if let (owner, bucket) = SKUBuckets.parse(sku) {
                inventory = try connection.execute("SELECT version FROM inventory_buckets WHERE sku = $1 AND bucket = $2", [owner, String(bucket)])
                counts = try connection.execute(
                    "SELECT count(*), coalesce(sum(version), 0) FROM reservations WHERE sku = $1 AND id LIKE $2",
                    [owner, Self.idPattern(ofBucket: bucket)]
                )
            } else {
                inventory = try connection.execute("SELECT version FROM inventory WHERE sku = $1", [sku])
                counts = try connection.execute("SELECT count(*), coalesce(sum(version), 0) FROM reservations WHERE sku = $1", [sku])
            }
            guard let row = counts.first, row.count == 2, let count = row[0].flatMap({ Int64($0) }), let sum = row[1].flatMap({ Int64($0) }) else {
                throw ArchivedRecordError.malformed("the record's reservation counts of \(sku): \(counts)")
            }
            let inventoryVersion = inventory.first.flatMap { $0.first ?? nil }.flatMap { Int64($0) }
            return FlushState(inventoryVersion: inventoryVersion, reservations: count, versionSum: sum)
        }
    }

    /// An operation on an archived SKU (`sku` as the shard names it) answered from the record.
    public func answer(_ operation: SaleOperation) async -> SaleOutcome {
        let owner = SKUBuckets.sku(of: operation.sku)
        let sql = "SELECT id, user_id, quantity, status, round(extract(epoch FROM expires_at) * 1000)::bigint, request_id FROM reservations WHERE "
        let query: (String, [String?])
        switch operation {
        case .reserve(_, _, _, let requestId):
            // A bucket answered for its own requestIds only, as its shard did.
            if let (_, bucket) = SKUBuckets.parse(operation.sku) {
                query = (sql + "sku = $1 AND request_id = $2 AND id LIKE $3", [owner, requestId, Self.idPattern(ofBucket: bucket)])
            } else {
                query = (sql + "sku = $1 AND request_id = $2", [owner, requestId])
            }
        case .reservation(_, let id), .commit(_, let id), .release(_, let id), .prepareCommit(_, let id), .cartRelease(_, let id):
            query = (sql + "sku = $1 AND id = $2", [owner, id])
        default:
            return .failure(.archived)
        }
        do {
            let rows = try await self.postgres.withConnection { connection in try connection.execute(query.0, query.1) }
            return Self.answer(operation, row: try rows.first.map { try Self.reservation($0, sku: operation.sku) })
        } catch {
            return .failure(.unavailable("the record of an archived SKU cannot be read now (\(error)); retry"))
        }
    }

    /// What the shard answered before archiving, from the reservation the record holds (nil: none).
    /// A repeated requestId gets its reservation back (I5); a new one finds the sale over. A
    /// command on a reservation meets its final status as the lifecycle says.
    public static func answer(_ operation: SaleOperation, row: Reservation?) -> SaleOutcome {
        switch operation {
        case .reserve:
            guard let row else { return .failure(.saleEnded) }
            return .receipt(ReservationReceipt(reservation: row, isNew: false))
        case .reservation, .commit, .release, .prepareCommit, .cartRelease:
            guard let row else { return .failure(.unknownReservation) }
            let command: ReservationCommand
            switch operation {
            case .commit: command = .commit
            case .release: command = .release
            case .prepareCommit: command = .prepareCommit
            case .cartRelease: command = .cartRelease
            default: command = .expireIfDue
            }
            var lifecycle = ReservationLifecycle(status: row.status, expiresAtMilliseconds: row.expiresAtMilliseconds)
            // Every reservation of an archived SKU is resolved: no clock can make one due.
            if case .refuse(let refusal, _) = lifecycle.handle(command, nowMilliseconds: .min) { return .failure(.refused(refusal)) }
            return .reservation(row)
        default:
            return .failure(.archived)
        }
    }

    /// A LIKE pattern for the ids of one bucket's reservations (each ends in the bucket's mark).
    private static func idPattern(ofBucket bucket: Int) -> String {
        "%" + SKUBuckets.reservationID("", bucket: bucket)
    }

    /// `id, user_id, quantity, status, expires_at ms, request_id`
    static func reservation(_ row: [String?], sku: String) throws -> Reservation {
        guard row.count == 6, let id = row[0], let user = row[1], let quantity = row[2].flatMap({ Int64($0) }),
            let status = row[3].flatMap(ReservationStatus.init(rawValue:)), let expiresAt = row[4].flatMap({ Int64($0) }), let requestId = row[5]
        else { throw ArchivedRecordError.malformed("a reservation row of \(sku): \(row)") }
        return Reservation(id: id, sku: sku, user: user, quantity: quantity, status: status, expiresAtMilliseconds: expiresAt, requestId: requestId)
    }
}

public enum ArchivedRecordError: Error, Sendable, Hashable {
    /// A row the record answered is not of the shape the query asked for.
    case malformed(String)
}
