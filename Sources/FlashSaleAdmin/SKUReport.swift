public import FlashSaleClient

extension SKUView {
    /// `flashsale admin sku`'s table of one SKU.
    public var report: String {
        var table = TextTable([
            "sku", "stock", "available", "reserved", "committed", "per-user limit", "reservation TTL s", "buckets", "starts at", "ends at",
        ])
        table.add([
            self.sku, String(self.stock), String(self.available), String(self.reserved), String(self.committed), String(self.perUserLimit),
            String(self.reservationTtlSeconds), String(self.buckets), self.startsAt ?? "-", self.endsAt ?? "-",
        ])
        return table.render()
    }
}
