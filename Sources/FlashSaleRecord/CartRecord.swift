public import FlashSaleCore
public import FlashSalePostgres

/// Carts in PostgreSQL (the `carts` table): one row per cart, its items as a JSON array in item
/// order. Every function runs on a `PostgresClient`'s thread.
public enum CartRecord {
    /// A cart as its row has it.
    public struct Row: Sendable, Hashable {
        public var requestId: String
        public var progress: CartProgress
        /// Rises with every write; a write that names an older one is refused (fenced).
        public var version: Int64
        public var coordinator: String

        public init(requestId: String, progress: CartProgress, version: Int64, coordinator: String) {
            self.requestId = requestId
            self.progress = progress
            self.version = version
            self.coordinator = coordinator
        }
    }

    /// When a node may take the cart over to finish or undo it.
    public enum RecoverAfter: Sendable, Hashable {
        /// Never: the cart is final.
        case never
        /// This long from now, on PostgreSQL's clock (a coordinator that does not write again by then is taken for dead).
        case milliseconds(Int64)
        /// At this instant, milliseconds since 1970 (a held cart: its expiry).
        case instant(Int64)

        var sql: (interval: String?, instant: String?) {
            switch self {
            case .never: (nil, nil)
            case .milliseconds(let value): (String(value), nil)
            case .instant(let value): (nil, String(value))
            }
        }
    }

    /// The SQL of a recover_after from parameters $first (milliseconds from now) and $second (an instant).
    private static func recoverAfter(_ first: Int, _ second: Int) -> String {
        "CASE WHEN $\(first)::bigint IS NOT NULL THEN now() + $\(first)::bigint * interval '1 millisecond' "
            + "WHEN $\(second)::bigint IS NOT NULL THEN to_timestamp($\(second)::bigint / 1000.0) END"
    }

    /// Writes a new cart; false when a cart with its id exists already (a repeated requestId).
    public static func insert(_ row: Row, recoverAfter: RecoverAfter, _ connection: PostgresConnection) throws -> Bool {
        let (interval, instant) = recoverAfter.sql
        return !(try connection.execute(
            """
            INSERT INTO carts (id, user_id, request_id, phase, items, version, coordinator, recover_after, created_at, updated_at)
            VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, \(Self.recoverAfter(8, 9)), now(), now())
            ON CONFLICT (id) DO NOTHING RETURNING 1
            """,
            [
                row.progress.cartID, row.progress.user, row.requestId, row.progress.phase.rawValue, Self.itemsJSON(row.progress),
                String(row.version), row.coordinator, interval, instant,
            ]
        ).isEmpty)
    }

    /// Writes where the cart stands now, if its row still has `version` (no other node took it
    /// over); answers the new version, or nil when fenced.
    public static func update(
        _ progress: CartProgress,
        version: Int64,
        coordinator: String,
        recoverAfter: RecoverAfter,
        _ connection: PostgresConnection
    ) throws -> Int64? {
        let (interval, instant) = recoverAfter.sql
        let rows = try connection.execute(
            """
            UPDATE carts SET phase = $3, items = $4::jsonb, version = version + 1, coordinator = $5,
                recover_after = \(Self.recoverAfter(6, 7)), updated_at = now()
            WHERE id = $1 AND version = $2 RETURNING version
            """,
            [progress.cartID, String(version), progress.phase.rawValue, Self.itemsJSON(progress), coordinator, interval, instant]
        )
        return rows.first?[0].flatMap { Int64($0) }
    }

    public static func read(_ id: String, _ connection: PostgresConnection) throws -> Row? {
        try Self.rows(where: "c.id = $1", [id], connection).first
    }

    /// Takes over up to `limit` carts whose recover_after has passed: each becomes `coordinator`'s
    /// under a new version, to recover by `leaseMilliseconds` from now (or another node takes it).
    public static func claim(by coordinator: String, limit: Int, leaseMilliseconds: Int64, _ connection: PostgresConnection) throws -> [Row] {
        let ids = try connection.execute(
            """
            UPDATE carts SET coordinator = $1, version = version + 1, recover_after = now() + $3 * interval '1 millisecond'
            WHERE id IN (SELECT id FROM carts WHERE recover_after <= now() ORDER BY recover_after LIMIT $2 FOR UPDATE SKIP LOCKED)
            RETURNING id
            """,
            [coordinator, String(limit), String(leaseMilliseconds)]
        ).compactMap { $0[0] }
        guard !ids.isEmpty else { return [] }
        return try Self.rows(where: "c.id = ANY($1::text[])", ["{" + ids.joined(separator: ",") + "}"], connection)
    }

    private static func rows(where condition: String, _ parameters: [String?], _ connection: PostgresConnection) throws -> [Row] {
        let lines = try connection.execute(
            """
            SELECT c.id, c.user_id, c.request_id, c.phase, c.version, c.coordinator,
                x.item->>'sku', x.item->>'quantity', x.item->>'state', x.item->>'reservation_id', x.item->>'expires_at',
                x.item->>'refusal'
            FROM carts c, jsonb_array_elements(c.items) WITH ORDINALITY AS x(item, n)
            WHERE \(condition) ORDER BY c.id, x.n
            """,
            parameters
        )
        var rows: [Row] = []
        var index = 0
        while index < lines.count {
            let first = lines[index]
            guard let id = first[0], let user = first[1], let requestId = first[2],
                let phase = first[3].flatMap(CartProgress.Phase.init(rawValue:)), let version = first[4].flatMap({ Int64($0) }),
                let coordinator = first[5]
            else { throw RecordError.malformed("carts row \(first[0] ?? "?")") }
            var items: [CartProgress.Item] = []
            var states: [CartProgress.ItemState] = []
            var reservationIds: [String?] = []
            var expiries: [Int64?] = []
            while index < lines.count, lines[index][0] == id {
                let line = lines[index]
                guard let sku = line[6], let quantity = line[7].flatMap({ Int64($0) }),
                    let state = Self.state(line[8], reservationId: line[9], refusal: line[11])
                else { throw RecordError.malformed("carts row \(id)") }
                items.append(.init(sku: sku, quantity: quantity))
                states.append(state)
                reservationIds.append(line[9])
                expiries.append(line[10].flatMap { Int64($0) })
                index += 1
            }
            let progress = CartProgress(
                cartID: id, user: user, items: items, phase: phase, states: states, reservationIds: reservationIds, expiries: expiries
            )
            rows.append(Row(requestId: requestId, progress: progress, version: version, coordinator: coordinator))
        }
        return rows
    }

    static func itemsJSON(_ progress: CartProgress) -> String {
        JSONWriter.array(
            progress.items.indices.map { index in
                JSONWriter.object { object in
                    object.field("sku", progress.items[index].sku)
                    object.field("quantity", progress.items[index].quantity)
                    let (state, refusal) = Self.encode(progress.states[index])
                    object.field("state", state)
                    if let refusal { object.field("refusal", refusal) }
                    if let id = progress.reservationIds[index] { object.field("reservation_id", id) }
                    if let expiry = progress.expiries[index] { object.field("expires_at", expiry) }
                }
            }
        )
    }

    private static func encode(_ state: CartProgress.ItemState) -> (String, String?) {
        switch state {
        case .asking: ("asking", nil)
        case .held: ("held", nil)
        case .prepared: ("prepared", nil)
        case .refused(let error): ("refused", CartRefusalCode.code(of: error))
        case .released: ("released", nil)
        case .expired: ("expired", nil)
        case .committed: ("committed", nil)
        case .unresolved: ("unresolved", nil)
        }
    }

    private static func state(_ text: String?, reservationId: String?, refusal: String?) -> CartProgress.ItemState? {
        switch text {
        case "asking": .asking
        case "held": reservationId.map { .held(reservationId: $0) }
        case "prepared": reservationId.map { .prepared(reservationId: $0) }
        case "refused": .refused(CartRefusalCode.error(of: refusal ?? ""))
        case "released": .released
        case "expired": .expired
        case "committed": .committed
        case "unresolved": .unresolved
        default: nil
        }
    }
}

/// The refusals an item can get, as the short codes the record keeps (the API's error codes).
public enum CartRefusalCode {
    public static func code(of error: SaleError) -> String {
        switch error {
        case .soldOut: "sold_out"
        case .limitExceeded: "limit_exceeded"
        case .notStarted(let opensIn): "not_started:\(opensIn)"
        case .saleEnded: "sale_ended"
        case .unknownSKU: "unknown_sku"
        case .archived: "archived"
        case .invalidRequest(let message): "invalid_request:\(message)"
        case .refused(let refusal): "refused:\(refusal.rawValue)"
        case .unknownReservation: "unknown_reservation"
        case .stockBelowSold, .unavailable, .staleMembership, .moved: "unavailable"
        }
    }

    public static func error(of code: String) -> SaleError {
        let (head, tail) = code.firstIndex(of: ":").map { (String(code[..<$0]), String(code[code.index(after: $0)...])) } ?? (code, "")
        switch head {
        case "sold_out": return .soldOut
        case "limit_exceeded": return .limitExceeded
        case "not_started": return .notStarted(opensInMilliseconds: Int64(tail) ?? 0)
        case "sale_ended": return .saleEnded
        case "unknown_sku": return .unknownSKU
        case "archived": return .archived
        case "invalid_request": return .invalidRequest(tail)
        case "refused": return ReservationRefusal(rawValue: tail).map { .refused($0) } ?? .unavailable("a refusal the record cannot read")
        case "unknown_reservation": return .unknownReservation
        default: return .unavailable("a refusal the record cannot read")
        }
    }
}
