public import FlashSaleCore
public import FlashSalePostgres

/// The record read back, for those who compare it with the shards: the audit and the load
/// checker. Every method runs on the PostgreSQL client's thread.
public enum RecordReader {
    /// One row of `inventory` (`bucket` nil) or of `inventory_buckets`.
    public struct InventoryRow: Sendable, Hashable {
        public var sku: String
        public var bucket: Int?
        public var stock: Int64
        public var reserved: Int64
        public var committed: Int64
        public var version: Int64

        public init(sku: String, bucket: Int? = nil, stock: Int64, reserved: Int64, committed: Int64, version: Int64) {
            self.sku = sku
            self.bucket = bucket
            self.stock = stock
            self.reserved = reserved
            self.committed = committed
            self.version = version
        }
    }

    public struct ReservationRow: Sendable, Hashable {
        public var id: String
        public var sku: String
        public var status: ReservationStatus

        public init(id: String, sku: String, status: ReservationStatus) {
            self.id = id
            self.sku = sku
            self.status = status
        }
    }

    /// Every SKU's row, then every bucket's row of the split SKUs.
    public static func inventory(_ connection: PostgresConnection) throws -> [InventoryRow] {
        let skus = try connection.execute("SELECT sku, NULL, stock, reserved, committed, version FROM inventory ORDER BY sku")
        let buckets = try connection.execute(
            "SELECT sku, bucket, stock, reserved, committed, version FROM inventory_buckets ORDER BY sku, bucket"
        )
        return (skus + buckets).compactMap { row in
            guard row.count == 6, let sku = row[0] else { return nil }
            let numbers = row.dropFirst(2).compactMap { $0.flatMap { Int64($0) } }
            guard numbers.count == 4 else { return nil }
            return InventoryRow(
                sku: sku, bucket: row[1].flatMap { Int($0) },
                stock: numbers[0], reserved: numbers[1], committed: numbers[2], version: numbers[3]
            )
        }
    }

    /// Every reservation's id, SKU and status (a row whose status is not one of ours is left out).
    public static func reservations(_ connection: PostgresConnection) throws -> [ReservationRow] {
        try connection.execute("SELECT id, sku, status FROM reservations ORDER BY id").compactMap { row in
            guard let id = row[0], let sku = row[1], let status = row[2].flatMap(ReservationStatus.init(rawValue:)) else { return nil }
            return ReservationRow(id: id, sku: sku, status: status)
        }
    }
}
