import FlashSaleRecord
import FlashSaleRedis

extension OutboxEvent {
    /// Parses an XRANGE reply: `[[id, [field, value, ...]], ...]`.
    static func parse(_ reply: RedisReply) throws -> [OutboxEvent] {
        guard let entries = reply.array else { throw SyncError.malformedOutbox("\(reply)") }
        return try entries.map { entry in
            guard let parts = entry.array, parts.count == 2, let id = parts[0].string, let list = parts[1].array else {
                throw SyncError.malformedOutbox("\(entry)")
            }
            var fields: [String: String] = [:]
            var index = 0
            while index + 1 < list.count {
                if let key = list[index].string, let value = list[index + 1].string { fields[key] = value }
                index += 2
            }
            func number(_ name: String) throws -> Int64 {
                guard let value = fields[name].flatMap({ Int64($0) }) else { throw SyncError.malformedOutbox("\(id): \(name)") }
                return value
            }
            guard let sku = fields["sku"] else { throw SyncError.malformedOutbox("\(id): sku") }
            var reservation: ReservationFields?
            if let reservationID = fields["id"] {
                reservation = ReservationFields(
                    id: reservationID,
                    user: fields["user"] ?? "",
                    quantity: try number("quantity"),
                    status: fields["status"] ?? "",
                    requestId: fields["requestId"] ?? "",
                    expiresAtMilliseconds: try number("expiresAt"),
                    version: try number("version")
                )
            }
            return OutboxEvent(
                streamID: id,
                sku: sku,
                stock: try number("stock"),
                reserved: try number("reserved"),
                committed: try number("committed"),
                skuVersion: try number("skuVersion"),
                buckets: fields["buckets"].flatMap { Int64($0) } ?? 1,
                reservation: reservation
            )
        }
    }
}

public enum SyncError: Error, Sendable, Hashable {
    case malformedOutbox(String)
}
