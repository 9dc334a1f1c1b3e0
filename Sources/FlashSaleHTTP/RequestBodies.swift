import FlashSaleCore
import Foundation
import Hummingbird

/// A request body the API decodes: its integer fields are named so that a number no Int64 holds
/// (1.5, 1e30) is reported against its field rather than as a body that is not JSON.
protocol APIBody: Decodable {
    static var integerFields: [String] { get }
}

struct DefineSKUBody: APIBody {
    var stock: Int64
    var perUserLimit: Int64?
    var reservationTtlSeconds: Int64?
    /// Our extension: split the SKU's stock over this many buckets on different nodes (default 1).
    var buckets: Int64?
    /// Our extension: the sale's window, RFC 3339 instants (each optional), on the owner shard's clock.
    var startsAt: String?
    var endsAt: String?

    static let integerFields = ["stock", "perUserLimit", "reservationTtlSeconds", "buckets"]

    private enum CodingKeys: String, CodingKey {
        case stock, perUserLimit, reservationTtlSeconds, buckets, startsAt, endsAt
    }

    /// An optional field may be left out (its default), but not given as null: a null is a value
    /// of the wrong type, as for `stock`.
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func optional<Value: Decodable>(_ key: CodingKeys) throws -> Value? {
            guard container.contains(key) else { return nil }
            if try container.decodeNil(forKey: key) {
                throw DecodingError.valueNotFound(Value.self, .init(codingPath: [key], debugDescription: "null"))
            }
            return try container.decode(Value.self, forKey: key)
        }
        self.stock = try container.decode(Int64.self, forKey: .stock)
        self.perUserLimit = try optional(.perUserLimit)
        self.reservationTtlSeconds = try optional(.reservationTtlSeconds)
        self.buckets = try optional(.buckets)
        self.startsAt = try optional(.startsAt)
        self.endsAt = try optional(.endsAt)
    }

    func settings() throws(APIError) -> SKUSettings {
        let settings = SKUSettings(
            stock: self.stock,
            perUserLimit: self.perUserLimit ?? 1,
            reservationTtlSeconds: self.reservationTtlSeconds ?? 600,
            buckets: self.buckets ?? 1,
            startsAtMilliseconds: try Self.instant(self.startsAt, "startsAt"),
            endsAtMilliseconds: try Self.instant(self.endsAt, "endsAt")
        )
        try check(settings.stock, "stock", in: 0...Limits.stockMax)
        try check(settings.perUserLimit, "perUserLimit", in: 1...Limits.perUserLimitMax)
        try check(settings.reservationTtlSeconds, "reservationTtlSeconds", in: 1...Limits.reservationTtlSecondsMax)
        try check(settings.buckets, "buckets", in: 1...SKUBuckets.maximum)
        if let startsAt = settings.startsAtMilliseconds, let endsAt = settings.endsAtMilliseconds, endsAt <= startsAt {
            throw .invalid("endsAt must be after startsAt")
        }
        return settings
    }

    private static func instant(_ text: String?, _ field: String) throws(APIError) -> Int64? {
        guard let text else { return nil }
        guard let milliseconds = RFC3339.parse(text), milliseconds > 0 else {
            throw .invalid("\(field) must be an RFC 3339 instant such as 2026-12-24T10:00:00Z (years 1970 to 9999)")
        }
        return milliseconds
    }
}

struct ReserveBody: APIBody, Equatable {
    var user: String
    var quantity: Int64
    var requestId: String

    static let integerFields = ["quantity"]

    func validate() throws(APIError) {
        try checkIdentifier(self.user, "user")
        try checkIdentifier(self.requestId, "requestId")
        try check(self.quantity, "quantity", in: 1...Limits.quantityMax)
    }
}

/// `POST /v1/carts`: 1 to 16 distinct SKUs, each with its quantity.
struct CartBody: APIBody {
    struct Item: Decodable {
        var sku: String
        var quantity: Int64
    }

    var user: String
    var requestId: String
    var items: [Item]

    static let integerFields: [String] = []
    static let itemsMax = 16

    func validate() throws(APIError) -> [CartProgress.Item] {
        try checkIdentifier(self.user, "user")
        try checkIdentifier(self.requestId, "requestId")
        guard (1...Self.itemsMax).contains(self.items.count) else { throw .invalid("items must hold 1 to \(Self.itemsMax) SKUs") }
        for item in self.items {
            try checkIdentifier(item.sku, "items.sku")
            try check(item.quantity, "items.quantity", in: 1...Limits.quantityMax)
        }
        guard Set(self.items.map(\.sku)).count == self.items.count else { throw .invalid("items must name distinct SKUs") }
        return self.items.map { .init(sku: $0.sku, quantity: $0.quantity) }
    }
}

struct NodeRegistrationBody: APIBody {
    var id: String
    var clientUrl: String
    var peerAddress: String
    var redisUrl: String
    var redisReplicaUrl: String?
    var weight: Double?

    static let integerFields: [String] = []

    func registration() throws(APIError) -> NodeRegistration {
        try checkIdentifier(self.id, "id")
        for (value, field) in [(self.clientUrl, "clientUrl"), (self.peerAddress, "peerAddress"), (self.redisUrl, "redisUrl")] {
            try checkIdentifier(value, field)
        }
        guard let colon = self.peerAddress.lastIndex(of: ":"), let port = Int(self.peerAddress[self.peerAddress.index(after: colon)...]),
            (1...65535).contains(port), colon > self.peerAddress.startIndex
        else { throw .invalid("peerAddress must be host:port") }
        guard self.clientUrl.hasPrefix("http://") || self.clientUrl.hasPrefix("https://") else {
            throw .invalid("clientUrl must be an http:// or https:// URL")
        }
        guard self.redisUrl.hasPrefix("redis://") else { throw .invalid("redisUrl must be a redis:// URL") }
        if let replica = self.redisReplicaUrl {
            try checkIdentifier(replica, "redisReplicaUrl")
            guard replica.hasPrefix("redis://"), replica != self.redisUrl else {
                throw .invalid("redisReplicaUrl must be a redis:// URL other than redisUrl")
            }
        }
        let weight = self.weight ?? 1
        guard weight > 0, weight <= 1000 else { throw .invalid("weight must be above 0 and at most 1000") }
        return NodeRegistration(
            id: self.id, clientUrl: self.clientUrl, peerAddress: self.peerAddress, redisUrl: self.redisUrl,
            redisReplicaUrl: self.redisReplicaUrl, weight: weight
        )
    }
}

func check(_ value: Int64, _ field: String, in range: ClosedRange<Int64>) throws(APIError) {
    guard range.contains(value) else {
        throw .invalid("\(field) must be an integer from \(range.lowerBound) to \(range.upperBound)")
    }
}

func checkIdentifier(_ value: String, _ field: String) throws(APIError) {
    if let problem = IdentifierValidation.problem(with: value, field: field) { throw .invalid(problem) }
}

extension ReserveBody {
    /// The body when it is a flat object with the three members of the right types (other members
    /// are ignored, as the API says); nil sends it to `JSONDecoder`.
    init?(flat object: FlatJSONObject) {
        guard case .string(let user) = object.members["user"], case .integer(let quantity) = object.members["quantity"],
            case .string(let requestId) = object.members["requestId"]
        else { return nil }
        self.init(user: user, quantity: quantity, requestId: requestId)
    }
}

extension Request {
    /// A reservation body: read by `FlatJSONObject` when it can, else by `decodeJSON`.
    func decodeReserveBody() async throws -> ReserveBody {
        let buffer = try await self.collectBody()
        if let object = FlatJSONObject(buffer.readableBytesView), let body = ReserveBody(flat: object) { return body }
        return try Self.decode(ReserveBody.self, buffer)
    }

    /// Reads at most 64 KiB and decodes a JSON object; every failure is a 400 or 413 in the API's shape.
    func decodeJSON<Body: APIBody>(_ type: Body.Type) async throws -> Body {
        try Self.decode(type, try await self.collectBody())
    }

    private func collectBody() async throws -> ByteBuffer {
        do {
            return try await self.body.collect(upTo: APIRequestContext.bodyBytesMax)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw ErrorMiddleware<APIRequestContext>.translate(.contentTooLarge)
        }
    }

    private static func decode<Body: APIBody>(_ type: Body.Type, _ buffer: ByteBuffer) throws -> Body {
        let data = Data(buffer.readableBytesView)
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            throw APIError.invalid(Self.describe(error, data: data, integerFields: Body.integerFields))
        }
    }

    /// Names the field at fault. The decoder reports a body that is not an object, and a number
    /// no Int64 holds, with no field at all: those are told apart here by reading the body as JSON.
    static func describe(_ error: DecodingError, data: Data, integerFields: [String]) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map(\.stringValue).joined(separator: ".")
        }
        func wholeBody() -> String {
            guard let object = (try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])) as? [String: Any] else {
                return "the body is not a JSON object"
            }
            for field in integerFields {
                if let number = object[field] as? NSNumber, Int64(exactly: number.doubleValue) == nil || "\(number)".contains(".") {
                    return "\(field) must be an integer"
                }
            }
            return "the body has a value of the wrong type"
        }
        switch error {
        case .keyNotFound(let key, _):
            return "\(key.stringValue) is required"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            let field = path(context)
            return field.isEmpty ? wholeBody() : "\(field) has the wrong type"
        case .dataCorrupted(let context):
            let field = path(context)
            return field.isEmpty ? wholeBody() : "\(field) is not a valid value"
        @unknown default:
            return "the body is not valid"
        }
    }
}
