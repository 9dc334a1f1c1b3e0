/// One entry of a shard's outbox stream, as the scripts in FlashSaleRedis write it: a SKU's
/// counters after a change, and the reservation it changed, if any. What the record is written from.
public struct OutboxEvent: Sendable, Hashable {
    public struct ReservationFields: Sendable, Hashable {
        public var id: String
        public var user: String
        public var quantity: Int64
        public var status: String
        public var requestId: String
        public var expiresAtMilliseconds: Int64
        public var version: Int64

        public init(id: String, user: String, quantity: Int64, status: String, requestId: String, expiresAtMilliseconds: Int64, version: Int64) {
            self.id = id
            self.user = user
            self.quantity = quantity
            self.status = status
            self.requestId = requestId
            self.expiresAtMilliseconds = expiresAtMilliseconds
            self.version = version
        }
    }

    public var streamID: String
    public var sku: String
    public var stock: Int64
    public var reserved: Int64
    public var committed: Int64
    public var skuVersion: Int64
    /// Above 1 for a split SKU's own entry, which holds no stock (its buckets' events do).
    public var buckets: Int64 = 1
    public var reservation: ReservationFields?

    public init(
        streamID: String,
        sku: String,
        stock: Int64,
        reserved: Int64,
        committed: Int64,
        skuVersion: Int64,
        buckets: Int64 = 1,
        reservation: ReservationFields?
    ) {
        self.streamID = streamID
        self.sku = sku
        self.stock = stock
        self.reserved = reserved
        self.committed = committed
        self.skuVersion = skuVersion
        self.buckets = buckets
        self.reservation = reservation
    }

    /// Milliseconds since the epoch at which Redis appended the entry (the first half of its id).
    public var appendedAtMilliseconds: Int64 {
        Int64(self.streamID.prefix { $0 != "-" }) ?? 0
    }
}
