public import Foundation

/// `GET`/`PUT /v1/skus/{sku}`'s answer, as `flashsale admin sku` shows it.
public struct SKUView: Sendable, Hashable, Decodable {
    public var sku: String
    public var stock: Int64
    public var available: Int64
    public var reserved: Int64
    public var committed: Int64
    public var perUserLimit: Int64
    public var reservationTtlSeconds: Int64
    /// Over how many buckets the stock is split (1: whole).
    public var buckets: Int64?
    /// The sale's window (RFC 3339), when it has one.
    public var startsAt: String?
    public var endsAt: String?

    public var report: String {
        var table = TextTable([
            "sku", "stock", "available", "reserved", "committed", "per-user limit", "reservation TTL s", "buckets", "starts at", "ends at",
        ])
        table.add([
            self.sku, String(self.stock), String(self.available), String(self.reserved), String(self.committed), String(self.perUserLimit),
            String(self.reservationTtlSeconds), String(self.buckets ?? 1), self.startsAt ?? "-", self.endsAt ?? "-",
        ])
        return table.render()
    }
}
