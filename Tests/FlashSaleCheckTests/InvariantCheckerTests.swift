import FlashSaleCore
import Testing

@testable import FlashSaleCheck

/// The checker against histories with one planted violation each: it must name exactly that one.
struct InvariantCheckerTests {
    /// A small sale: stock 3, limit 2; u1 reserves r1 and commits it, u2 reserves r2 and releases
    /// it, u3 reserves r3 and keeps it; r1's requestId is retried and answered with r1 again.
    static let history: [HistoryEntry] = [
        .init(operation: .reserve, startMilliseconds: 0, endMilliseconds: 1, sku: "a", user: "u1", quantity: 1, requestId: "q1", reservationId: "r1", status: 201),
        .init(operation: .reserve, startMilliseconds: 2, endMilliseconds: 3, sku: "a", user: "u1", quantity: 1, requestId: "q1", reservationId: "r1", status: 200),
        .init(operation: .commit, startMilliseconds: 4, endMilliseconds: 5, sku: "a", reservationId: "r1", status: 200),
        .init(operation: .reserve, startMilliseconds: 6, endMilliseconds: 7, sku: "a", user: "u2", quantity: 1, requestId: "q2", reservationId: "r2", status: 201),
        .init(operation: .release, startMilliseconds: 8, endMilliseconds: 9, sku: "a", reservationId: "r2", status: 200),
        .init(operation: .reserve, startMilliseconds: 10, endMilliseconds: 11, sku: "a", user: "u3", quantity: 1, requestId: "q3", reservationId: "r3", status: 201),
        .init(operation: .reserve, startMilliseconds: 12, endMilliseconds: 13, sku: "a", user: "u4", quantity: 1, requestId: "q4", status: 409, error: "sold_out"),
    ]

    static func reservation(_ id: String, _ user: String, _ status: ReservationStatus) -> Reservation {
        Reservation(id: id, sku: "a", user: user, quantity: 1, status: status, expiresAtMilliseconds: 0, requestId: "q" + id.dropFirst())
    }

    static let final = FinalState(
        skus: ["a": SKUState(sku: "a", settings: .init(stock: 3, perUserLimit: 2, reservationTtlSeconds: 600), reserved: 1, committed: 1)],
        reservations: [
            "r1": reservation("r1", "u1", .committed), "r2": reservation("r2", "u2", .released), "r3": reservation("r3", "u3", .reserved),
        ],
        recordRows: ["r1": [.init(sku: "a", status: .committed)], "r2": [.init(sku: "a", status: .released)], "r3": [.init(sku: "a", status: .reserved)]],
        recordInventory: ["a": [3, 1, 1]]
    )

    @Test func aCorrectRunHasNoViolation() {
        #expect(InvariantChecker.check(Self.history, final: Self.final) == [])
    }

    @Test func anOversellIsCaught() {
        var final = Self.final
        final.skus["a"]!.settings.stock = 1
        final.recordInventory["a"] = [1, 1, 1]
        #expect(InvariantChecker.check(Self.history, final: final).map(\.invariant) == ["I1 oversell"])
    }

    /// A split SKU whose buckets add up to more stock than it was defined with (a transfer
    /// applied twice) oversells even when its counters agree with each other.
    @Test func stockGrownPastItsDefinitionIsCaught() {
        let defined = [HistoryEntry(operation: .define, startMilliseconds: 0, endMilliseconds: 0, sku: "a", quantity: 2, status: 201)]
        #expect(InvariantChecker.check(defined + Self.history, final: Self.final).map(\.invariant) == ["I1 oversell"])
        let asDefined = [HistoryEntry(operation: .define, startMilliseconds: 0, endMilliseconds: 0, sku: "a", quantity: 3, status: 201)]
        #expect(InvariantChecker.check(asDefined + Self.history, final: Self.final) == [])
    }

    /// The reservations are made at 0 (expiry 600,000 less the TTL): a window [0, 1) holds them,
    /// one that opens at 1 or ends at 0 does not.
    @Test func aReservationOutsideItsSalesWindowIsCaught() {
        var final = Self.final
        for id in ["r1", "r2", "r3"] { final.reservations[id]!.expiresAtMilliseconds = 600_000 }
        final.skus["a"]!.settings.startsAtMilliseconds = 0
        final.skus["a"]!.settings.endsAtMilliseconds = 1
        #expect(InvariantChecker.check(Self.history, final: final) == [])
        final.skus["a"]!.settings.startsAtMilliseconds = 1
        #expect(InvariantChecker.check(Self.history, final: final).map(\.invariant) == Array(repeating: "sale window", count: 3))
        final.skus["a"]!.settings.startsAtMilliseconds = nil
        final.skus["a"]!.settings.endsAtMilliseconds = 0
        let late = InvariantChecker.check(Self.history, final: final)
        #expect(late.map(\.invariant) == Array(repeating: "sale window", count: 3))
        #expect(late.first?.operations.first?.reservationId == "r1")
    }

    /// A request asked again after the run must get the reservation it made (an archived SKU's
    /// owner answers from the record).
    @Test func aRequestAskedAgainThatGetsAnotherAnswerIsCaught() {
        var final = Self.final
        final.replayed = [FinalState.replayKey(sku: "a", requestId: "q1"): "r1", FinalState.replayKey(sku: "a", requestId: "q3"): "r3"]
        #expect(InvariantChecker.check(Self.history, final: final) == [])
        final.replayed[FinalState.replayKey(sku: "a", requestId: "q3")] = "409 sale_ended"
        let violations = InvariantChecker.check(Self.history, final: final)
        #expect(violations.map(\.invariant) == ["I5 idempotency"])
        #expect(violations.first?.detail.contains("409 sale_ended") == true)
    }

    @Test func aLostAcknowledgementIsCaught() {
        var final = Self.final
        final.reservations["r3"] = nil
        final.skus["a"]!.reserved = 0
        final.recordInventory["a"] = [3, 0, 1]
        let violations = InvariantChecker.check(Self.history, final: final)
        #expect(violations.map(\.invariant) == ["I2 lost acknowledgement"])
        #expect(violations.first?.operations.first?.reservationId == "r3")
    }

    @Test func aCommitThatDidNotStayIsCaught() {
        var final = Self.final
        final.reservations["r1"]!.status = .expired
        final.skus["a"]!.committed = 0
        final.recordInventory["a"] = [3, 1, 0]
        #expect(InvariantChecker.check(Self.history, final: final).map(\.invariant) == ["I2 commit lost"])
    }

    @Test func aDoubleCommitIsCaught() {
        // Committed twice in the record...
        var final = Self.final
        final.recordRows["r1"] = [.init(sku: "a", status: .committed), .init(sku: "a", status: .committed)]
        #expect(InvariantChecker.check(Self.history, final: final).map(\.invariant) == ["I6 exactly once"])
        // ...or committed and released, both acknowledged.
        let both = Self.history + [.init(operation: .release, startMilliseconds: 20, endMilliseconds: 21, sku: "a", reservationId: "r1", status: 200)]
        #expect(InvariantChecker.check(both, final: Self.final).map(\.invariant) == ["I7 resolved twice", "I7 release lost"])
    }

    @Test func aRetryThatMadeASecondReservationIsCaught() {
        let retried = Self.history + [
            .init(operation: .reserve, startMilliseconds: 30, endMilliseconds: 31, sku: "a", user: "u3", quantity: 1, requestId: "q3", reservationId: "r9", status: 200)
        ]
        var final = Self.final
        final.reservations["r9"] = Self.reservation("r9", "u3", .reserved)
        final.skus["a"]!.reserved = 2
        final.recordInventory["a"] = [3, 2, 1]
        #expect(InvariantChecker.check(retried, final: final).map(\.invariant) == ["I5 idempotency"])
    }

    @Test func aUserOverTheLimitAndCountersThatDoNotAddUpAreCaught() {
        let greedy = Self.history + [
            .init(operation: .reserve, startMilliseconds: 40, endMilliseconds: 41, sku: "a", user: "u3", quantity: 2, requestId: "q8", reservationId: "r8", status: 201)
        ]
        var final = Self.final
        final.skus["a"]!.settings.stock = 10
        final.reservations["r8"] = Reservation(id: "r8", sku: "a", user: "u3", quantity: 2, status: .reserved, expiresAtMilliseconds: 0, requestId: "q8")
        final.recordInventory["a"] = nil
        // The counters were not raised for r8: conservation; u3 holds 3 of a limit of 2.
        #expect(Set(InvariantChecker.check(greedy, final: final).map(\.invariant)) == ["conservation", "I4 per-user limit"])
    }
}

/// I8: a cart's items are all held or none; none committed unless all are.
extension InvariantCheckerTests {
    /// Two SKUs b and c, stock 5 each. A cart of b and c held (c1 acknowledged) and one refused (c2).
    static func cartRun(held: [ReservationStatus], refused: [ReservationStatus?]) -> ([HistoryEntry], FinalState) {
        var heldCall = HistoryEntry(operation: .cart, startMilliseconds: 0, endMilliseconds: 1, sku: "b+c", user: "u", requestId: "k1", status: 201)
        heldCall.cartId = "c1"
        var refusedCall = HistoryEntry(operation: .cart, startMilliseconds: 2, endMilliseconds: 3, sku: "b+c", user: "v", requestId: "k2", status: 409, error: "sold_out")
        refusedCall.cartId = "c2"
        func item(_ id: String, _ sku: String, _ user: String, _ status: ReservationStatus) -> Reservation {
            Reservation(id: id, sku: sku, user: user, quantity: 1, status: status, expiresAtMilliseconds: 0, requestId: id)
        }
        var reservations = ["h1": item("h1", "b", "u", held[0]), "h2": item("h2", "c", "u", held[1])]
        if let status = refused[0] { reservations["x1"] = item("x1", "b", "v", status) }
        let live = { (sku: String) in reservations.values.filter { $0.sku == sku } }
        func state(_ sku: String) -> SKUState {
            let mine = live(sku)
            return SKUState(
                sku: sku, settings: .init(stock: 5, perUserLimit: 5, reservationTtlSeconds: 600),
                reserved: mine.filter { $0.status == .reserved }.reduce(0) { $0 + $1.quantity },
                committed: mine.filter { $0.status == .committed }.reduce(0) { $0 + $1.quantity }
            )
        }
        let final = FinalState(
            skus: ["b": state("b"), "c": state("c")], reservations: reservations,
            recordRows: reservations.mapValues { [.init(sku: $0.sku, status: $0.status)] }, recordInventory: [:],
            carts: [
                "c1": .init(status: "held", items: [("b", "h1"), ("c", "h2")]),
                "c2": .init(status: "refused", items: [("b", refused[0] == nil ? nil : "x1"), ("c", nil)]),
            ]
        )
        return ([heldCall, refusedCall], final)
    }

    @Test func cartsHeldWholeOrNotAtAllHaveNoViolation() {
        for (held, refused) in [([ReservationStatus.reserved, .reserved], [ReservationStatus?.none]), ([.committed, .committed], [.released]), ([.expired, .released], [.expired])] {
            let (history, final) = Self.cartRun(held: held, refused: refused)
            #expect(InvariantChecker.check(history, final: final) == [], "\(held) \(refused)")
        }
    }

    @Test func aPartialCartIsCaught() {
        let (history, final) = Self.cartRun(held: [.reserved, .expired], refused: [nil])
        #expect(InvariantChecker.check(history, final: final).map(\.invariant) == ["I8 partial cart"])
    }

    @Test func aPartialCommitIsCaught() {
        let (history, final) = Self.cartRun(held: [.committed, .released], refused: [nil])
        #expect(InvariantChecker.check(history, final: final).map(\.invariant) == ["I8 partial commit"])
    }

    @Test func aRefusedCartThatStillHoldsAnItemIsCaught() {
        let (history, final) = Self.cartRun(held: [.reserved, .reserved], refused: [.reserved])
        #expect(InvariantChecker.check(history, final: final).map(\.invariant) == ["I8 partial cart", "I8 refused cart holds"])
    }

    @Test func anAcknowledgedCartThatIsGoneOrUnfinishedIsCaught() {
        var (history, final) = Self.cartRun(held: [.reserved, .reserved], refused: [nil])
        final.carts["c2"]?.status = "undoing"
        #expect(InvariantChecker.check(history, final: final).map(\.invariant) == ["I8 unfinished cart"])
        final.carts["c1"] = nil
        final.carts["c2"]?.status = "refused"
        final.skus["b"]!.reserved = 0
        final.skus["c"]!.reserved = 0
        final.reservations = [:]
        #expect(InvariantChecker.check(history, final: final).map(\.invariant) == ["I8 lost cart"])
    }
}
