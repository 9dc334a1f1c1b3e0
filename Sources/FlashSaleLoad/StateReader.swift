public import FlashSaleCheck
import FlashSaleCore
import FlashSalePostgres
import FlashSaleRecord
public import Foundation

/// Reads what `InvariantChecker` compares a history with: every SKU and every reservation the
/// history names, through a node's public API, and the record from PostgreSQL.
public struct StateReader: Sendable {
    public let url: URL
    public let postgresURL: String
    private let client: APIClient

    public init(url: URL, adminToken: String, postgresURL: String) {
        self.url = url
        self.postgresURL = postgresURL
        self.client = APIClient(token: adminToken, timeout: 10)
    }

    /// How long to wait before reading, so that every reservation the history made has either been
    /// resolved or expired (and the sweeper has recorded the expiry): expiry goes on while the
    /// state is read, and would make the counters and the reservations disagree. Nil when the
    /// wait would be longer than `limit` (long reservation lifetimes: nothing made in the last
    /// seconds expires while the state is read).
    public func expiryWait(_ history: [HistoryEntry], limit: Duration = .seconds(120)) async throws -> Duration? {
        var longest: Int64 = 0
        for sku in Set(history.map(\.sku)) {
            let (status, data) = await self.client.call("GET", .api(self.url, "v1", "skus", sku))
            guard status == 200, let ttl = (APIClient.object(data)?["reservationTtlSeconds"] as? NSNumber)?.int64Value else { continue }
            longest = max(longest, ttl)
        }
        let lastReserve = history.filter { $0.operation == .reserve }.map(\.endMilliseconds).max() ?? 0
        let settled = lastReserve + longest * 1000 + 2000
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        guard settled > now else { return .zero }
        let wait = Duration.milliseconds(settled - now)
        return wait <= limit ? wait : nil
    }

    public func read(_ history: [HistoryEntry]) async throws -> FinalState {
        var skus: [String: SKUState] = [:]
        for sku in Set(history.map(\.sku)).sorted() {
            let (status, data) = await self.client.call("GET", .api(self.url, "v1", "skus", sku))
            guard status == 200, let object = APIClient.object(data) else {
                throw LoadError.unreadable("GET /v1/skus/\(sku) answered \(status.map(String.init) ?? "nothing")")
            }
            let number = { (name: String) in (object[name] as? NSNumber)?.int64Value ?? -1 }
            let instant = { (name: String) in (object[name] as? String).flatMap(RFC3339.parse) }
            skus[sku] = SKUState(
                sku: sku,
                settings: .init(
                    stock: number("stock"), perUserLimit: number("perUserLimit"), reservationTtlSeconds: number("reservationTtlSeconds"),
                    startsAtMilliseconds: instant("startsAt"), endsAtMilliseconds: instant("endsAt")
                ),
                reserved: number("reserved"),
                committed: number("committed")
            )
        }
        var reservations: [String: Reservation] = [:]
        let named = history.compactMap { entry in entry.reservationId.map { ($0, entry.sku) } }
        for (id, sku) in Dictionary(named, uniquingKeysWith: { first, _ in first }) {
            let (status, data) = await self.client.call("GET", .api(self.url, "v1", "skus", sku, "reservations", id))
            if status == 404 { continue }
            guard status == 200, let object = APIClient.object(data),
                let state = (object["status"] as? String).flatMap(ReservationStatus.init(rawValue:))
            else { throw LoadError.unreadable("GET reservation \(id) answered \(status.map(String.init) ?? "nothing")") }
            reservations[id] = Reservation(
                id: id,
                sku: sku,
                user: object["user"] as? String ?? "",
                quantity: (object["quantity"] as? NSNumber)?.int64Value ?? 0,
                status: state,
                expiresAtMilliseconds: (object["expiresAt"] as? String).flatMap(RFC3339.parse) ?? 0,
                requestId: object["requestId"] as? String ?? ""
            )
        }
        let postgres = PostgresClient(url: self.postgresURL)
        defer { Task { await postgres.stop() } }
        let (reservationRows, inventoryRows) = try await postgres.withConnection { connection in
            (try RecordReader.reservations(connection), try RecordReader.inventory(connection))
        }
        var rows: [String: [FinalState.RecordRow]] = [:]
        for row in reservationRows { rows[row.id, default: []].append(.init(sku: row.sku, status: row.status)) }
        var inventory: [String: [Int64]] = [:]
        for row in inventoryRows where row.bucket == nil { inventory[row.sku] = [row.stock, row.reserved, row.committed] }
        let windowed = Set(skus.values.filter { $0.settings.endsAtMilliseconds != nil }.map(\.sku))
        return FinalState(
            skus: skus, reservations: reservations, recordRows: rows, recordInventory: inventory,
            replayed: await self.replay(history, preferring: windowed)
        )
    }

    /// Sends acknowledged reservation requests again, as a client retrying late would: those of
    /// SKUs whose sale ended first (their reservations may be archived by now), up to
    /// `replayMaximum` in all. Each answer is the reservation's id, or the status and error of a
    /// refusal; a request that gets no final answer (none, 429, 503) after a few tries is left out.
    func replay(_ history: [HistoryEntry], preferring skus: Set<String>, replayMaximum: Int = 400) async -> [String: String] {
        var seen = Set<String>()
        let acknowledged = history.filter { $0.operation == .reserve && $0.isAcknowledged && $0.requestId != nil && $0.user != nil }
            .filter { seen.insert(FinalState.replayKey(sku: $0.sku, requestId: $0.requestId!)).inserted }
        let chosen = (acknowledged.filter { skus.contains($0.sku) } + acknowledged.filter { !skus.contains($0.sku) }).prefix(replayMaximum)
        var replayed: [String: String] = [:]
        for entry in chosen {
            let body = #"{"user": "\#(entry.user!)", "quantity": \#(entry.quantity ?? 1), "requestId": "\#(entry.requestId!)"}"#
            for attempt in 0..<5 {
                let (status, data) = await self.client.call("POST", .api(self.url, "v1", "skus", entry.sku, "reservations"), body: body)
                let object = APIClient.object(data)
                if let status, status != 429, status != 503 {
                    let answer = (object?["id"] as? String) ?? "\(status) \(object?["error"] as? String ?? "")"
                    replayed[FinalState.replayKey(sku: entry.sku, requestId: entry.requestId!)] = answer
                    break
                }
                if attempt < 4 { try? await Task.sleep(for: .milliseconds(200)) }
            }
        }
        return replayed
    }
}

/// A history on disk: one JSON object per line.
public enum HistoryFile {
    public static func write(_ history: [HistoryEntry], to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        var text = Data()
        for entry in history {
            text.append(try encoder.encode(entry))
            text.append(0x0A)
        }
        try text.write(to: URL(fileURLWithPath: path))
    }

    public static func read(_ path: String) throws -> [HistoryEntry] {
        let decoder = JSONDecoder()
        return try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { line in
            try decoder.decode(HistoryEntry.self, from: Data(line.utf8))
        }
    }
}
