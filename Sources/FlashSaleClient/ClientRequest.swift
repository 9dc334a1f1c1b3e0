public import FlashSaleCore
public import Foundation

/// One call of the API as the client sends it: method, percent-encoded path, JSON body, where it is
/// best sent, and whether sending it again is harmless (every call of the API is, but the removal
/// and addition of nodes, whose repeats the operator's tools handle themselves).
public struct ClientRequest: Sendable, Hashable {
    public var method: String
    /// Percent-encoded, from its leading slash.
    public var path: String
    public var body: Data?
    public var target: CallTarget
    public var isRepeatable: Bool

    public init(method: String, path: String, body: Data? = nil, target: CallTarget = .anyNode, isRepeatable: Bool = true) {
        self.method = method
        self.path = path
        self.body = body
        self.target = target
        self.isRepeatable = isRepeatable
    }

    /// `PUT /v1/skus/{sku}`.
    public static func defineSKU(_ sku: String, _ definition: SaleTerms) -> ClientRequest {
        .init(method: "PUT", path: Self.path("v1", "skus", sku), body: Data(definition.json.utf8), target: .sku(sku))
    }

    /// `GET /v1/skus/{sku}`.
    public static func sku(_ sku: String) -> ClientRequest {
        .init(method: "GET", path: Self.path("v1", "skus", sku), target: .sku(sku))
    }

    /// `POST /v1/skus/{sku}/close`.
    public static func closeSKU(_ sku: String) -> ClientRequest {
        .init(method: "POST", path: Self.path("v1", "skus", sku, "close"), target: .sku(sku))
    }

    /// `POST /v1/skus/{sku}/reservations`: repeatable, as the requestId makes a repeat answer the
    /// reservation the first try made.
    public static func reserve(sku: String, user: String, quantity: Int64, requestId: String) -> ClientRequest {
        let body = JSONWriter.object {
            $0.field("user", user)
            $0.field("quantity", quantity)
            $0.field("requestId", requestId)
        }
        return .init(
            method: "POST", path: Self.path("v1", "skus", sku, "reservations"), body: Data(body.utf8),
            target: .userReservation(sku: sku, user: user)
        )
    }

    /// `GET /v1/skus/{sku}/reservations/{id}`.
    public static func reservation(sku: String, id: String) -> ClientRequest {
        .init(method: "GET", path: Self.path("v1", "skus", sku, "reservations", id), target: .reservation(sku: sku, id: id))
    }

    /// `POST /v1/skus/{sku}/reservations/{id}/commit`: a repeat finds it committed and answers the same.
    public static func commit(sku: String, id: String) -> ClientRequest {
        .init(method: "POST", path: Self.path("v1", "skus", sku, "reservations", id, "commit"), target: .reservation(sku: sku, id: id))
    }

    /// `POST /v1/skus/{sku}/reservations/{id}/release`: a repeat finds it released and answers the same.
    public static func release(sku: String, id: String) -> ClientRequest {
        .init(method: "POST", path: Self.path("v1", "skus", sku, "reservations", id, "release"), target: .reservation(sku: sku, id: id))
    }

    /// `POST /v1/carts`: any node coordinates a cart.
    public static func createCart(user: String, requestId: String, items: [(sku: String, quantity: Int64)]) -> ClientRequest {
        let body = JSONWriter.object {
            $0.field("user", user)
            $0.field("requestId", requestId)
            $0.raw("items", JSONWriter.array(items.map { item in JSONWriter.object { $0.field("sku", item.sku); $0.field("quantity", item.quantity) } }))
        }
        return .init(method: "POST", path: "/v1/carts", body: Data(body.utf8))
    }

    /// `GET /v1/carts/{id}`.
    public static func cart(id: String) -> ClientRequest {
        .init(method: "GET", path: Self.path("v1", "carts", id))
    }

    /// `POST /v1/carts/{id}/commit`: a repeat finds it committed and answers the same.
    public static func commitCart(id: String) -> ClientRequest {
        .init(method: "POST", path: Self.path("v1", "carts", id, "commit"))
    }

    /// `POST /v1/carts/{id}/release`.
    public static func releaseCart(id: String) -> ClientRequest {
        .init(method: "POST", path: Self.path("v1", "carts", id, "release"))
    }

    /// `GET /v1/cluster`.
    public static func cluster() -> ClientRequest {
        .init(method: "GET", path: "/v1/cluster")
    }

    /// `POST /v1/cluster/nodes`.
    public static func addNode(_ registration: NodeRegistration) -> ClientRequest {
        let body = JSONWriter.object {
            $0.field("id", registration.id)
            $0.field("clientUrl", registration.clientUrl)
            $0.field("peerAddress", registration.peerAddress)
            $0.field("redisUrl", registration.redisUrl)
            if let replica = registration.redisReplicaUrl { $0.field("redisReplicaUrl", replica) }
            $0.field("weight", registration.weight)
        }
        return .init(method: "POST", path: "/v1/cluster/nodes", body: Data(body.utf8), isRepeatable: false)
    }

    /// `DELETE /v1/cluster/nodes/{id}`.
    public static func removeNode(_ id: String) -> ClientRequest {
        .init(method: "DELETE", path: Self.path("v1", "cluster", "nodes", id), isRepeatable: false)
    }

    /// `GET /healthz`, `/readyz`, `/metrics`, `/v1/node/stats` or `/openapi.yaml` of one node.
    public static func node(_ url: String, _ resource: NodeResource) -> ClientRequest {
        .init(method: "GET", path: resource.rawValue, target: .node(url))
    }

    public enum NodeResource: String, Sendable, Hashable, CaseIterable {
        case health = "/healthz"
        case readiness = "/readyz"
        case metrics = "/metrics"
        case stats = "/v1/node/stats"
        case openAPIDocument = "/openapi.yaml"
    }

    /// Identifiers may hold any printable UTF-8: each segment is percent-encoded but for the
    /// characters RFC 3986 leaves unreserved.
    static func path(_ segments: String...) -> String {
        segments.map { "/" + ($0.addingPercentEncoding(withAllowedCharacters: Self.unreserved) ?? $0) }.joined()
    }

    private static let unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
}

/// A SKU's sale as `PUT /v1/skus/{sku}` defines it; a setting left nil takes the API's default.
public struct SaleTerms: Sendable, Hashable {
    public var stock: Int64
    public var perUserLimit: Int64?
    public var reservationTtlSeconds: Int64?
    public var buckets: Int64?
    /// RFC 3339 instants of the sale's window (`RFC3339.format(milliseconds:)`).
    public var startsAt: String?
    public var endsAt: String?

    public init(
        stock: Int64, perUserLimit: Int64? = nil, reservationTtlSeconds: Int64? = nil, buckets: Int64? = nil,
        startsAt: String? = nil, endsAt: String? = nil
    ) {
        self.stock = stock
        self.perUserLimit = perUserLimit
        self.reservationTtlSeconds = reservationTtlSeconds
        self.buckets = buckets
        self.startsAt = startsAt
        self.endsAt = endsAt
    }

    var json: String {
        JSONWriter.object {
            $0.field("stock", self.stock)
            if let perUserLimit { $0.field("perUserLimit", perUserLimit) }
            if let reservationTtlSeconds { $0.field("reservationTtlSeconds", reservationTtlSeconds) }
            if let buckets { $0.field("buckets", buckets) }
            if let startsAt { $0.field("startsAt", startsAt) }
            if let endsAt { $0.field("endsAt", endsAt) }
        }
    }
}
