public import FlashSaleCore

/// Checks a load run's history against the final state for the guarantees of shared/DESIGN.md:
/// I1 no oversell, I2 no acknowledged reservation lost, commits and releases that stay as
/// acknowledged, I4 per-user limits, I5 idempotency, I7 resolve at most once, conservation, and
/// I6 exactly once in the record, and sale windows (no reservation made outside its SKU's window,
/// on its owner's clock), and I8 (a cart's items are all held or none, once its answer is given or
/// its recovery time has passed; none committed unless all are). Pure: the history and the state
/// come in, violations go out.
public enum InvariantChecker {
    public static func check(_ history: [HistoryEntry], final: FinalState) -> [Violation] {
        var violations: [Violation] = []
        let acknowledged = history.filter(\.isAcknowledged)
        let reserves = acknowledged.filter { $0.operation == .reserve && $0.reservationId != nil }
        let commits = acknowledged.filter { $0.operation == .commit }
        let releases = acknowledged.filter { $0.operation == .release }
        var known = Dictionary(reserves.map { ($0.reservationId!, $0) }, uniquingKeysWith: { first, _ in first })
        // A cart's item reservations count as made, whatever its answer was (the cart's record
        // names them): an unanswered cart may hold them.
        for (cartId, cart) in final.carts {
            for item in cart.items {
                guard let id = item.reservationId, known[id] == nil else { continue }
                known[id] = HistoryEntry(operation: .reserve, startMilliseconds: 0, endMilliseconds: 0, sku: item.sku, reservationId: id)
                known[id]?.cartId = cartId
            }
        }
        violations += Self.checkCarts(history, final: final)

        // I2: every acknowledged reservation is still there.
        for (id, entry) in known.sorted(by: { $0.key < $1.key }) where final.reservations[id] == nil {
            violations.append(.init(invariant: "I2 lost acknowledgement", detail: "reservation \(id) of \(entry.sku) is gone", operations: [entry]))
        }
        // Acknowledged resolutions stay, and never both (I7).
        let committedIDs = Set(commits.compactMap(\.reservationId))
        let releasedIDs = Set(releases.compactMap(\.reservationId))
        for id in committedIDs.intersection(releasedIDs).sorted() {
            let involved = history.filter { $0.reservationId == id && $0.isAcknowledged }
            violations.append(.init(invariant: "I7 resolved twice", detail: "reservation \(id) was both committed and released", operations: involved))
        }
        for entry in commits {
            guard let id = entry.reservationId, let now = final.reservations[id], now.status != .committed else { continue }
            violations.append(.init(invariant: "I2 commit lost", detail: "reservation \(id) was committed and is now \(now.status.rawValue)", operations: [entry]))
        }
        for entry in releases {
            guard let id = entry.reservationId, let now = final.reservations[id], now.status != .released else { continue }
            violations.append(.init(invariant: "I7 release lost", detail: "reservation \(id) was released and is now \(now.status.rawValue)", operations: [entry]))
        }

        // I5: one requestId, one reservation.
        let byRequest = Dictionary(grouping: reserves) { FinalState.replayKey(sku: $0.sku, requestId: $0.requestId ?? "") }
        for (_, entries) in byRequest.sorted(by: { $0.key < $1.key }) where Set(entries.compactMap(\.reservationId)).count > 1 {
            violations.append(
                .init(
                    invariant: "I5 idempotency",
                    detail: "requestId \(entries[0].requestId ?? "") of \(entries[0].sku) made \(Set(entries.compactMap(\.reservationId)).count) reservations",
                    operations: entries
                )
            )
        }

        // I5 after the run: a request asked again gets the reservation it made, even once its
        // SKU is archived and the reservation is in the record only.
        for (_, entries) in byRequest.sorted(by: { $0.key < $1.key }) {
            let first = entries[0]
            guard let requestId = first.requestId, let made = first.reservationId,
                let again = final.replayed[FinalState.replayKey(sku: first.sku, requestId: requestId)], again != made
            else { continue }
            violations.append(
                .init(
                    invariant: "I5 idempotency",
                    detail: "requestId \(requestId) of \(first.sku) made \(made); asked again after the run it answered \(again)",
                    operations: entries
                )
            )
        }

        let unknownReserves = Set(history.filter { $0.operation == .reserve && $0.status == nil }.map(\.sku))
        // The stock each SKU was defined with (the last acknowledged define says).
        let definedStock = Dictionary(
            history.filter { $0.operation == .define && $0.isAcknowledged }.compactMap { entry in entry.quantity.map { (entry.sku, $0) } },
            uniquingKeysWith: { _, last in last }
        )
        for (sku, state) in final.skus.sorted(by: { $0.key < $1.key }) {
            // I1 for a split SKU: stock moved between its buckets never adds up to more than was defined.
            if let defined = definedStock[sku], state.settings.stock > defined {
                violations.append(
                    .init(invariant: "I1 oversell", detail: "\(sku): stock \(state.settings.stock) is more than the \(defined) defined", operations: [])
                )
            }
            let mine = final.reservations.values.filter { $0.sku == sku && known[$0.id] != nil }
            let live = mine.filter { $0.status == .reserved || $0.status == .committed }
            let committed = mine.filter { $0.status == .committed }.reduce(0) { $0 + $1.quantity }
            let reserved = mine.filter { $0.status == .reserved }.reduce(0) { $0 + $1.quantity }
            // I1: never more sold or held than the stock.
            if state.reserved + state.committed > state.settings.stock || committed > state.settings.stock {
                let involved = commits.filter { $0.sku == sku }
                violations.append(
                    .init(
                        invariant: "I1 oversell",
                        detail: "\(sku): stock \(state.settings.stock), reserved \(state.reserved), committed \(state.committed) "
                            + "(acknowledged and committed: \(committed))",
                        operations: involved
                    )
                )
            }
            // Conservation: the counters are the sum of the reservations (exactly, when every
            // reservation's outcome is known; otherwise at least what is known).
            let complete = !unknownReserves.contains(sku)
            if complete ? (state.reserved != reserved || state.committed != committed) : (state.reserved + state.committed < reserved + committed) {
                violations.append(
                    .init(
                        invariant: "conservation",
                        detail: "\(sku): counters reserved \(state.reserved), committed \(state.committed); "
                            + "its acknowledged reservations hold \(reserved) and \(committed)",
                        operations: []
                    )
                )
            }
            // Sale window: each reservation was made (its expiry less the TTL, on the owner shard's
            // clock) at or after the opening and before the end.
            let window = state.settings
            if window.startsAtMilliseconds != nil || window.endsAtMilliseconds != nil {
                for reservation in mine.sorted(by: { $0.id < $1.id }) {
                    let madeAt = reservation.expiresAtMilliseconds - window.reservationTtlSeconds * 1000
                    guard madeAt < (window.startsAtMilliseconds ?? .min) || madeAt >= (window.endsAtMilliseconds ?? .max) else { continue }
                    violations.append(
                        .init(
                            invariant: "sale window",
                            detail: "\(reservation.id) of \(sku) was made at \(madeAt), outside its window "
                                + "\(window.startsAtMilliseconds.map(String.init) ?? "-")..<\(window.endsAtMilliseconds.map(String.init) ?? "-")",
                            operations: known[reservation.id].map { [$0] } ?? []
                        )
                    )
                }
            }
            // I4: no user holds more than the limit.
            for (user, holdings) in Dictionary(grouping: live, by: \.user) {
                let held = holdings.reduce(0) { $0 + $1.quantity }
                guard held > state.settings.perUserLimit else { continue }
                violations.append(
                    .init(
                        invariant: "I4 per-user limit",
                        detail: "\(user) holds \(held) of \(sku), limit \(state.settings.perUserLimit)",
                        operations: holdings.compactMap { known[$0.id] }
                    )
                )
            }
            // I6: the record's counters are the cluster's.
            if let record = final.recordInventory[sku], record != [state.settings.stock, state.reserved, state.committed] {
                violations.append(
                    .init(
                        invariant: "I6 record",
                        detail: "\(sku): the record has stock, reserved, committed \(record), the cluster "
                            + "\([state.settings.stock, state.reserved, state.committed])",
                        operations: []
                    )
                )
            }
        }
        // I6: every committed reservation in the record once, committed.
        for reservation in final.reservations.values.sorted(by: { $0.id < $1.id }) where reservation.status == .committed {
            let rows = final.recordRows[reservation.id] ?? []
            guard rows.count != 1 || rows[0].status != .committed else { continue }
            violations.append(
                .init(
                    invariant: "I6 exactly once",
                    detail: "committed reservation \(reservation.id) of \(reservation.sku) has \(rows.count) record row(s): "
                        + rows.map(\.status.rawValue).joined(separator: ", "),
                    operations: known[reservation.id].map { [$0] } ?? []
                )
            )
        }
        for (id, rows) in final.recordRows.sorted(by: { $0.key < $1.key }) where rows.count > 1 && final.reservations[id]?.status != .committed {
            violations.append(.init(invariant: "I6 exactly once", detail: "reservation \(id) has \(rows.count) record rows", operations: []))
        }
        return violations
    }

    /// I8, over every cart the history names.
    static func checkCarts(_ history: [HistoryEntry], final: FinalState) -> [Violation] {
        var violations: [Violation] = []
        let calls = Dictionary(grouping: history.filter { $0.operation == .cart && $0.cartId != nil }, by: { $0.cartId! })
        for (cartId, entries) in calls.sorted(by: { $0.key < $1.key }) {
            let held = entries.contains(where: \.isAcknowledged)
            let refused = entries.contains { $0.status == 409 || $0.status == 404 }
            guard let cart = final.carts[cartId] else {
                if held { violations.append(.init(invariant: "I8 lost cart", detail: "cart \(cartId) was acknowledged and is gone", operations: entries)) }
                continue
            }
            let statuses = cart.items.map { item in item.reservationId.flatMap { final.reservations[$0]?.status } }
            let live = statuses.map { $0 == .reserved || $0 == .committed }
            let committed = statuses.map { $0 == .committed }
            let described = zip(cart.items, statuses).map { "\($0.sku) \($1?.rawValue ?? "none")" }.joined(separator: ", ")
            if committed.contains(true), !committed.allSatisfy({ $0 }) {
                violations.append(.init(invariant: "I8 partial commit", detail: "cart \(cartId): \(described)", operations: entries))
            } else if live.contains(true), !live.allSatisfy({ $0 }) {
                violations.append(.init(invariant: "I8 partial cart", detail: "cart \(cartId) (\(cart.status)): \(described)", operations: entries))
            }
            if held, cart.items.contains(where: { $0.reservationId == nil }) {
                violations.append(.init(invariant: "I8 partial cart", detail: "acknowledged cart \(cartId) lacks an item: \(described)", operations: entries))
            }
            if refused, !held, live.contains(true) {
                violations.append(.init(invariant: "I8 refused cart holds", detail: "refused cart \(cartId): \(described)", operations: entries))
            }
            if ["reserving", "undoing", "committing", "releasing", "expiring"].contains(cart.status) {
                violations.append(
                    .init(invariant: "I8 unfinished cart", detail: "cart \(cartId) is still \(cart.status) past its recovery time", operations: entries)
                )
            }
        }
        return violations
    }
}
