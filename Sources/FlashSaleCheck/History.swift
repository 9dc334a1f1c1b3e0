public import FlashSaleCore

/// One request of a load run and what came back: one JSON object per line of a history file.
public struct HistoryEntry: Sendable, Hashable, Codable {
    public enum Operation: String, Sendable, Hashable, Codable {
        case define, reserve, commit, release
        /// A cart's creation, commit and release (`cartId` and `items` say which).
        case cart, commitCart, releaseCart
    }

    /// One item of a cart, with the reservation its answer named.
    public struct CartItem: Sendable, Hashable, Codable {
        public var sku: String
        public var quantity: Int64
        public var reservationId: String?

        public init(sku: String, quantity: Int64, reservationId: String? = nil) {
            self.sku = sku
            self.quantity = quantity
            self.reservationId = reservationId
        }
    }

    public var operation: Operation
    public var startMilliseconds: Int64
    public var endMilliseconds: Int64
    public var sku: String
    public var user: String?
    public var quantity: Int64?
    public var requestId: String?
    /// The reservation a commit or release names, or the one a reserve was answered with.
    public var reservationId: String?
    /// The HTTP status; nil when no answer came (a timeout, a broken connection): the outcome is unknown.
    public var status: Int?
    /// The answer's error code, when it was an error.
    public var error: String?
    /// Every try of the request, in order: the final answer is the last one's.
    public var attempts: [Attempt]?
    /// The cart a cart call names; on a reserve, commit or release, the cart whose answer it
    /// stands for (one entry per item of an acknowledged cart call, not a request of its own).
    public var cartId: String?
    /// A cart's items, as asked (and as answered, once acknowledged).
    public var items: [CartItem]?

    /// One try of a request (a retry carries the same requestId, so it cannot act twice).
    public struct Attempt: Sendable, Hashable, Codable {
        /// The node's client URL the try went to.
        public var node: String
        public var startMilliseconds: Int64
        public var endMilliseconds: Int64
        /// nil when no answer came.
        public var status: Int?

        public init(node: String, startMilliseconds: Int64, endMilliseconds: Int64, status: Int?) {
            self.node = node
            self.startMilliseconds = startMilliseconds
            self.endMilliseconds = endMilliseconds
            self.status = status
        }
    }

    public init(
        operation: Operation,
        startMilliseconds: Int64,
        endMilliseconds: Int64,
        sku: String,
        user: String? = nil,
        quantity: Int64? = nil,
        requestId: String? = nil,
        reservationId: String? = nil,
        status: Int? = nil,
        error: String? = nil
    ) {
        self.operation = operation
        self.startMilliseconds = startMilliseconds
        self.endMilliseconds = endMilliseconds
        self.sku = sku
        self.user = user
        self.quantity = quantity
        self.requestId = requestId
        self.reservationId = reservationId
        self.status = status
        self.error = error
    }

    /// The cluster acknowledged the request: it took effect, and must stay so.
    public var isAcknowledged: Bool { self.status.map { (200..<300).contains($0) } ?? false }
}

/// What the cluster and the record hold after the run, read through the API and from PostgreSQL.
public struct FinalState: Sendable, Hashable {
    public struct RecordRow: Sendable, Hashable {
        public var sku: String
        public var status: ReservationStatus

        public init(sku: String, status: ReservationStatus) {
            self.sku = sku
            self.status = status
        }
    }

    public var skus: [String: SKUState]
    /// Every reservation the history names, as the API answers it now; absent when it answered 404.
    public var reservations: [String: Reservation]
    /// The PostgreSQL record's `reservations` rows by id (more than one row per id is a violation).
    public var recordRows: [String: [RecordRow]]
    /// The record's `inventory` counters: stock, reserved, committed.
    public var recordInventory: [String: [Int64]]
    /// Acknowledged reservation requests sent again after the run, by `replayKey`: the id of the
    /// reservation each was answered with (an archived SKU's from the record).
    public var replayed: [String: String]
    /// Every cart the history names, as its record answers now (absent: none was written).
    public var carts: [String: Cart]

    /// A cart as `GET /v1/carts/{id}` answers it.
    public struct Cart: Sendable, Hashable {
        public var status: String
        /// In item order: the SKU and the reservation made for it, if any.
        public var items: [(sku: String, reservationId: String?)]

        public init(status: String, items: [(sku: String, reservationId: String?)]) {
            self.status = status
            self.items = items
        }

        public static func == (lhs: Cart, rhs: Cart) -> Bool {
            lhs.status == rhs.status && lhs.items.map(\.sku) == rhs.items.map(\.sku) && lhs.items.map(\.reservationId) == rhs.items.map(\.reservationId)
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(self.status)
            for item in self.items {
                hasher.combine(item.sku)
                hasher.combine(item.reservationId)
            }
        }
    }

    public init(
        skus: [String: SKUState],
        reservations: [String: Reservation],
        recordRows: [String: [RecordRow]],
        recordInventory: [String: [Int64]],
        replayed: [String: String] = [:],
        carts: [String: Cart] = [:]
    ) {
        self.skus = skus
        self.reservations = reservations
        self.recordRows = recordRows
        self.recordInventory = recordInventory
        self.replayed = replayed
        self.carts = carts
    }

    /// A reservation request's key (its SKU and requestId): what I5 groups by, and how the replayed
    /// ones are found.
    public static func replayKey(sku: String, requestId: String) -> String { "\(sku)\u{0}\(requestId)" }
}

/// A broken guarantee, with the requests that show it.
public struct Violation: Sendable, Hashable, CustomStringConvertible {
    public var invariant: String
    public var detail: String
    public var operations: [HistoryEntry]

    public var description: String {
        let shown = self.operations.prefix(5).map { entry in
            "    \(entry.operation.rawValue) \(entry.sku) \(entry.reservationId ?? entry.requestId ?? "")"
                + " at \(entry.startMilliseconds)-\(entry.endMilliseconds) ms: \(entry.status.map(String.init) ?? "no answer")"
                + (entry.error.map { " \($0)" } ?? "")
        }
        return (["\(self.invariant): \(self.detail)"] + shown).joined(separator: "\n")
    }
}
