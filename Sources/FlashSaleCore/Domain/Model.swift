/// A SKU's sale settings, as the admin defines them.
public struct SKUSettings: Sendable, Hashable {
    public var stock: Int64
    public var perUserLimit: Int64
    public var reservationTtlSeconds: Int64
    /// Over how many buckets the SKU's stock is split (`SKUBuckets`); 1, the default, keeps it
    /// whole on its owner. Fixed once the SKU is defined.
    public var buckets: Int64
    /// The sale's window, epoch milliseconds on the owner shard's clock: reservations from
    /// `startsAtMilliseconds` (inclusive) until `endsAtMilliseconds` (exclusive); nil is no bound.
    /// A close sets the end to the shard's now.
    public var startsAtMilliseconds: Int64?
    public var endsAtMilliseconds: Int64?

    public init(
        stock: Int64,
        perUserLimit: Int64 = 1,
        reservationTtlSeconds: Int64 = 600,
        buckets: Int64 = 1,
        startsAtMilliseconds: Int64? = nil,
        endsAtMilliseconds: Int64? = nil
    ) {
        self.stock = stock
        self.perUserLimit = perUserLimit
        self.reservationTtlSeconds = reservationTtlSeconds
        self.buckets = buckets
        self.startsAtMilliseconds = startsAtMilliseconds
        self.endsAtMilliseconds = endsAtMilliseconds
    }

    /// Where the sale is in its window at `nowMilliseconds` (the same rule as the scripts'
    /// `outside_window`: an end at or before now wins over a start still to come); never archived,
    /// which only the SKU's state knows.
    public func phase(atMilliseconds nowMilliseconds: Int64) -> SalePhase {
        if let end = self.endsAtMilliseconds, nowMilliseconds >= end { return .ended }
        if let start = self.startsAtMilliseconds, nowMilliseconds < start { return .scheduled }
        return .open
    }
}

/// A sale's phase: in its window, then archived once it ended and its reservations are all in
/// the record (only the SKU's state knows that).
public enum SalePhase: String, Sendable, Hashable {
    case scheduled, open, ended, archived
}

/// A SKU's settings and counters. `available` is derived, so stock = available + reserved + committed (I3)
/// holds by construction wherever this value is built from the store's counters.
public struct SKUState: Sendable, Hashable {
    public var sku: String
    public var settings: SKUSettings
    public var reserved: Int64
    public var committed: Int64
    /// Its sale ended and its reservations left Redis for the record (the archiver's work): reads
    /// of them are answered from the record, and the SKU never sells again.
    public var isArchived: Bool

    public init(sku: String, settings: SKUSettings, reserved: Int64, committed: Int64, isArchived: Bool = false) {
        self.sku = sku
        self.settings = settings
        self.reserved = reserved
        self.committed = committed
        self.isArchived = isArchived
    }

    public var available: Int64 { self.settings.stock - self.reserved - self.committed }

    public func phase(atMilliseconds nowMilliseconds: Int64) -> SalePhase {
        self.isArchived ? .archived : self.settings.phase(atMilliseconds: nowMilliseconds)
    }
}

public struct Reservation: Sendable, Hashable {
    public var id: String
    public var sku: String
    public var user: String
    public var quantity: Int64
    public var status: ReservationStatus
    public var expiresAtMilliseconds: Int64
    public var requestId: String

    public init(
        id: String,
        sku: String,
        user: String,
        quantity: Int64,
        status: ReservationStatus,
        expiresAtMilliseconds: Int64,
        requestId: String
    ) {
        self.id = id
        self.sku = sku
        self.user = user
        self.quantity = quantity
        self.status = status
        self.expiresAtMilliseconds = expiresAtMilliseconds
        self.requestId = requestId
    }
}

/// The answer to a reservation request: new, or the one an earlier request with the same requestId made (I5).
public struct ReservationReceipt: Sendable, Hashable {
    public var reservation: Reservation
    public var isNew: Bool

    public init(reservation: Reservation, isNew: Bool) {
        self.reservation = reservation
        self.isNew = isNew
    }
}

/// The answer to defining a SKU.
public struct SKUDefinition: Sendable, Hashable {
    public var state: SKUState
    public var isNew: Bool

    public init(state: SKUState, isNew: Bool) {
        self.state = state
        self.isNew = isNew
    }
}

/// Everything a shard holds about one SKU, as the previous owner freezes it and the new owner
/// imports it in a handoff. The per-user holdings, the requestId index and the expiry index follow
/// from the reservations, so they are rebuilt on import rather than carried.
public struct SKUSnapshot: Sendable, Hashable {
    public struct Entry: Sendable, Hashable {
        public var id: String
        public var status: ReservationStatus
        public var quantity: Int64
        public var expiresAtMilliseconds: Int64
        public var version: Int64
        public var user: String
        public var requestId: String
        /// Reserved and prepared for its cart's commit (`ReservationCommand.prepareCommit`).
        public var isCommitPrepared: Bool

        public init(
            id: String,
            status: ReservationStatus,
            quantity: Int64,
            expiresAtMilliseconds: Int64,
            version: Int64,
            user: String,
            requestId: String,
            isCommitPrepared: Bool = false
        ) {
            self.id = id
            self.status = status
            self.quantity = quantity
            self.expiresAtMilliseconds = expiresAtMilliseconds
            self.version = version
            self.user = user
            self.requestId = requestId
            self.isCommitPrepared = isCommitPrepared
        }
    }

    public var state: SKUState
    /// The SKU's version: its outbox events so far carry versions up to this one.
    public var version: Int64
    /// A bucket's transfer bookkeeping (its last transfer out, the one not yet finished, the last
    /// transfer taken in from each other bucket), as the scripts write it; empty for other SKUs.
    /// It moves with the bucket so that no transfer is applied twice or forgotten.
    public var transfers: String
    /// Empty when `state.isArchived`: an archived SKU's reservations are in the record only.
    public var reservations: [Entry]

    public init(state: SKUState, version: Int64, transfers: String = "", reservations: [Entry]) {
        self.state = state
        self.version = version
        self.transfers = transfers
        self.reservations = reservations
    }
}
