public import FlashSaleCore
public import Foundation

/// A SKU as the API shows it (`GET`, `PUT /v1/skus/{sku}`, `POST .../close`).
public struct SKUView: Sendable, Hashable, Decodable {
    public var sku: String
    public var stock: Int64
    public var available: Int64
    public var reserved: Int64
    public var committed: Int64
    public var perUserLimit: Int64
    public var reservationTtlSeconds: Int64
    /// Over how many buckets the stock is split (1: whole).
    public var buckets: Int64
    /// The sale's window (RFC 3339), when it has one.
    public var startsAt: String?
    public var endsAt: String?
}

/// A reservation as the API shows it.
public struct ReservationView: Sendable, Hashable, Decodable {
    public enum Status: String, Sendable, Hashable, Decodable {
        case reserved, committed, released, expired
    }

    public var id: String
    public var sku: String
    public var user: String
    public var quantity: Int64
    public var status: Status
    /// RFC 3339.
    public var expiresAt: String
    public var requestId: String

    public var expiresAtMilliseconds: Int64? { RFC3339.parse(self.expiresAt) }
}

/// A cart (`POST /v1/carts`): its items' reservations, in the order the cart named them.
public struct CartAnswer: Sendable, Hashable, Decodable {
    public struct Item: Sendable, Hashable, Decodable {
        /// The reservation's id; none for an item not reserved (a cart being worked on).
        public var id: String?
        public var sku: String
        public var quantity: Int64
        public var status: ReservationView.Status?
        public var expiresAt: String?
        public var requestId: String
    }

    public var id: String
    public var user: String
    public var requestId: String
    /// held, committed, released, expired; refused, or reserving/undoing/committing/releasing/expiring while being worked on.
    public var status: String
    public var expiresAt: String?
    public var items: [Item]
}

/// An answer that may have made something new: a define (201 or 200) or a reservation (201, or 200
/// for a repeated requestId).
public struct Made<Value: Sendable>: Sendable {
    public var value: Value
    /// False when it was there already (a repeat of an earlier call).
    public var isNew: Bool
}

/// Why a call did not give what it asks for.
public enum FlashSaleClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A node answered with a refusal (`409 sold_out`, `404 unknown_sku`, `503 unavailable` once
    /// the retries are spent...).
    case refused(Refusal)
    /// No node answered within the retry policy: the call may or may not have been carried out;
    /// sending it again with the same requestId is safe.
    case unanswered(String)
    /// An answer this client cannot read.
    case unexpected(String)
    case invalidConfiguration(String)

    public struct Refusal: Sendable, Hashable {
        public var status: Int
        /// The API's error code (`sold_out`, `limit_exceeded`, `not_started`...).
        public var code: String
        public var message: String
        public var retryAfterSeconds: Int?
        /// The SKU a refused cart's refusal came from.
        public var sku: String? = nil
    }

    /// The refusal's code, if a node refused.
    public var code: String? {
        if case .refused(let refusal) = self { return refusal.code }
        return nil
    }

    public var description: String {
        switch self {
        case .refused(let refusal):
            "\(refusal.status) \(refusal.code): \(refusal.message)" + (refusal.retryAfterSeconds.map { " (retry after \($0) s)" } ?? "")
        case .unanswered(let why): "no node answered: \(why)"
        case .unexpected(let what): what
        case .invalidConfiguration(let why): "invalid client configuration: \(why)"
        }
    }
}
