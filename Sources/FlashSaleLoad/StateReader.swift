public import FlashSaleCheck
public import FlashSaleClient
import FlashSaleCore
import FlashSalePostgres
import FlashSaleRecord
public import Foundation

/// Reads what `InvariantChecker` compares a history with: every SKU and every reservation the
/// history names, through the public API (`FlashSaleClient`, starting from one node), and the
/// record from PostgreSQL.
public struct StateReader: Sendable {
    public let url: URL
    public let postgresURL: String
    private let client: FlashSaleClient

    public init(url: URL, adminToken: String, postgresURL: String) throws(FlashSaleClientError) {
        self.url = url
        self.postgresURL = postgresURL
        self.client = try FlashSaleClient(
            configuration: .init(nodeURLs: [url.absoluteString], token: adminToken, retry: RetryPolicy(attemptsMax: 5), requestTimeout: .seconds(10))
        )
    }

    /// How long to wait before reading, so that every reservation the history made has either been
    /// resolved or expired (and the sweeper has recorded the expiry): expiry goes on while the
    /// state is read, and would make the counters and the reservations disagree. Nil when the
    /// wait would be longer than `limit` (long reservation lifetimes: nothing made in the last
    /// seconds expires while the state is read).
    public func expiryWait(_ history: [HistoryEntry], limit: Duration = .seconds(120)) async throws -> Duration? {
        var longest: Int64 = 0
        for sku in Set(history.map(\.sku)) {
            guard let view = try? await self.client.sku(sku) else { continue }
            longest = max(longest, view.reservationTtlSeconds)
        }
        let lastReserve = history.filter { $0.operation == .reserve }.map(\.endMilliseconds).max() ?? 0
        // A cart whose coordinator went quiet is finished or undone by another node after the
        // default recovery time (10 s) and the next claim.
        let lastCart = history.filter { $0.operation == .cart }.map(\.endMilliseconds).max()
        let settled = max(lastReserve + longest * 1000 + 2000, lastCart.map { $0 + 13_000 } ?? 0)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        guard settled > now else { return .zero }
        let wait = Duration.milliseconds(settled - now)
        return wait <= limit ? wait : nil
    }

    public func read(_ history: [HistoryEntry]) async throws -> FinalState {
        var skus: [String: SKUState] = [:]
        for sku in Set(history.flatMap { entry in entry.items.map { $0.map(\.sku) } ?? [entry.sku] }).sorted() {
            let view: SKUView
            do {
                view = try await self.client.sku(sku)
            } catch {
                throw LoadError.unreadable("GET /v1/skus/\(sku): \(error)")
            }
            skus[sku] = SKUState(
                sku: sku,
                settings: .init(
                    stock: view.stock, perUserLimit: view.perUserLimit, reservationTtlSeconds: view.reservationTtlSeconds,
                    startsAtMilliseconds: view.startsAt.flatMap(RFC3339.parse), endsAtMilliseconds: view.endsAt.flatMap(RFC3339.parse)
                ),
                reserved: view.reserved,
                committed: view.committed
            )
        }
        // Every cart the history names, and the reservations its record says it made.
        var carts: [String: FinalState.Cart] = [:]
        for cartId in Set(history.compactMap { $0.operation == .cart ? $0.cartId : nil }).sorted() {
            do {
                let cart = try await self.client.cart(id: cartId)
                carts[cartId] = .init(status: cart.status, items: cart.items.map { ($0.sku, $0.id) })
            } catch .refused(let refusal) where refusal.status == 404 {
                continue
            } catch {
                throw LoadError.unreadable("GET /v1/carts/\(cartId): \(error)")
            }
        }
        var reservations: [String: Reservation] = [:]
        let inCarts = carts.values.flatMap { cart in cart.items.compactMap { item in item.reservationId.map { ($0, item.sku) } } }
        let named = history.compactMap { entry in entry.reservationId.map { ($0, entry.sku) } } + inCarts
        for (id, sku) in Dictionary(named, uniquingKeysWith: { first, _ in first }) {
            let view: ReservationView
            do {
                view = try await self.client.reservation(sku: sku, id: id)
            } catch .refused(let refusal) where refusal.status == 404 {
                continue
            } catch {
                throw LoadError.unreadable("GET reservation \(id): \(error)")
            }
            reservations[id] = Reservation(
                id: id,
                sku: sku,
                user: view.user,
                quantity: view.quantity,
                status: ReservationStatus(rawValue: view.status.rawValue) ?? .expired,
                expiresAtMilliseconds: view.expiresAtMilliseconds ?? 0,
                requestId: view.requestId
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
            replayed: await self.replay(history, preferring: windowed), carts: carts
        )
    }

    /// Sends acknowledged reservation requests again, as a client retrying late would: those of
    /// SKUs whose sale ended first (their reservations may be archived by now), up to
    /// `replayMaximum` in all. Each answer is the reservation's id, or the status and error of a
    /// refusal; a request that gets no final answer (none, 429, 503) after the client's tries is left out.
    func replay(_ history: [HistoryEntry], preferring skus: Set<String>, replayMaximum: Int = 400) async -> [String: String] {
        var seen = Set<String>()
        let acknowledged = history.filter { $0.operation == .reserve && $0.isAcknowledged && $0.requestId != nil && $0.user != nil }
            .filter { seen.insert(FinalState.replayKey(sku: $0.sku, requestId: $0.requestId!)).inserted }
        let chosen = (acknowledged.filter { skus.contains($0.sku) } + acknowledged.filter { !skus.contains($0.sku) }).prefix(replayMaximum)
        var replayed: [String: String] = [:]
        for entry in chosen {
            let answer = await self.client.send(.reserve(sku: entry.sku, user: entry.user!, quantity: entry.quantity ?? 1, requestId: entry.requestId!))
            guard let status = answer.status, status != 429, status != 503 else { continue }
            let object = answer.fields
            replayed[FinalState.replayKey(sku: entry.sku, requestId: entry.requestId!)] = (object?["id"] as? String) ?? "\(status) \(object?["error"] as? String ?? "")"
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
