import FlashSaleCore
import Testing

/// The cart's coordinator, without I/O: every item held or none.
struct CartProgressTests {
    static func cart(_ skus: [String] = ["console", "pad", "game"], attemptsMax: Int = 3) -> CartProgress {
        CartProgress(cartID: "c1", user: "ann", items: skus.map { .init(sku: $0, quantity: 1) }, attemptsMax: attemptsMax)
    }

    static func held(_ id: String) -> Result<Reservation, SaleError> {
        .success(Reservation(id: id, sku: "s", user: "ann", quantity: 1, status: .reserved, expiresAtMilliseconds: 0, requestId: "r"))
    }

    @Test func everyItemHeldHoldsTheCartAndItCommitsAsOne() {
        var cart = Self.cart()
        #expect(cart.start() == [.reserve(item: 0), .reserve(item: 1), .reserve(item: 2)])
        #expect(cart.requestId(ofItem: 2) == "c1.2")
        #expect(cart.answered(.reserve(item: 1), Self.held("r1")) == [])
        #expect(cart.answered(.reserve(item: 0), Self.held("r0")) == [])
        #expect(cart.phase == .reserving)
        #expect(cart.answered(.reserve(item: 2), Self.held("r2")) == [])
        #expect(cart.phase == .held && cart.reservationIds == ["r0", "r1", "r2"])
        // Every item is prepared first; none is committed until all are.
        let prepares = cart.commit()
        #expect(prepares == [.prepare(item: 0, reservationId: "r0"), .prepare(item: 1, reservationId: "r1"), .prepare(item: 2, reservationId: "r2")])
        #expect(cart.answered(prepares[2], Self.held("r2")) == [])
        #expect(cart.answered(prepares[0], .failure(.unavailable("down"))) == [prepares[0]])
        #expect(cart.answered(prepares[0], Self.held("r0")) == [])
        #expect(cart.states[0] == .prepared(reservationId: "r0") && cart.states[1] == .held(reservationId: "r1"))
        let commits = cart.answered(prepares[1], Self.held("r1"))
        #expect(commits == [.commit(item: 0, reservationId: "r0"), .commit(item: 1, reservationId: "r1"), .commit(item: 2, reservationId: "r2")])
        #expect(CartView(requestId: "q", progress: cart, isNew: false).items.allSatisfy { $0.status == .reserved })
        // A commit that cannot reach its node is made again; the cart is committed once all are.
        #expect(cart.answered(commits[0], Self.held("r0")) == [])
        #expect(cart.answered(commits[1], .failure(.unavailable("down"))) == [commits[1]])
        #expect(cart.answered(commits[2], Self.held("r2")) == [])
        #expect(cart.phase == .committing)
        #expect(cart.answered(commits[1], Self.held("r1")) == [])
        #expect(cart.phase == .committed)
    }

    @Test func oneRefusalReleasesWhatIsHeldAndWhatAnswersLater() {
        var cart = Self.cart()
        _ = cart.start()
        #expect(cart.answered(.reserve(item: 0), Self.held("r0")) == [])
        // The pad is sold out: the console is released at once, the game when it answers.
        #expect(cart.answered(.reserve(item: 1), .failure(.soldOut)) == [.release(item: 0, reservationId: "r0")])
        #expect(cart.phase == .undoing)
        #expect(cart.answered(.reserve(item: 2), Self.held("r2")) == [.release(item: 2, reservationId: "r2")])
        #expect(cart.answered(.release(item: 0, reservationId: "r0"), Self.held("r0")) == [])
        #expect(cart.phase == .undoing)
        // Found expired already: free all the same, and said to be expired, not released.
        #expect(cart.answered(.release(item: 2, reservationId: "r2"), .failure(.refused(.expired))) == [])
        #expect(cart.phase == .refused && cart.states == [.released, .refused(.soldOut), .expired])
        #expect(cart.refusal?.sku == "pad" && cart.refusal?.error == .soldOut)
    }

    @Test func theFirstRefusalInItemOrderIsTheAnswer() {
        var cart = Self.cart()
        _ = cart.start()
        _ = cart.answered(.reserve(item: 2), .failure(.limitExceeded))
        _ = cart.answered(.reserve(item: 1), .failure(.soldOut))
        #expect(cart.answered(.reserve(item: 0), .failure(.saleEnded)) == [])
        #expect(cart.phase == .refused && cart.refusal?.sku == "console" && cart.refusal?.error == .saleEnded)
    }

    @Test func anItemThatCannotBeReachedIsAskedAgainThenLeftToRecovery() {
        var cart = Self.cart(["a", "b"], attemptsMax: 2)
        _ = cart.start()
        #expect(cart.answered(.reserve(item: 0), Self.held("r0")) == [])
        #expect(cart.answered(.reserve(item: 1), .failure(.unavailable("down"))) == [.reserve(item: 1)])
        // Given up on: b may or may not be held; a is released, and the cart waits for recovery.
        #expect(cart.answered(.reserve(item: 1), .failure(.moved(epoch: 4))) == [.release(item: 0, reservationId: "r0")])
        #expect(cart.answered(.release(item: 0, reservationId: "r0"), Self.held("r0")) == [])
        #expect(cart.phase == .undoing && cart.states[1] == .unresolved)
        // Whoever recovers the record asks b again under its requestId: it was held after all.
        #expect(cart.recover() == [.reserve(item: 1)])
        #expect(cart.answered(.reserve(item: 1), Self.held("r1")) == [.release(item: 1, reservationId: "r1")])
        #expect(cart.answered(.release(item: 1, reservationId: "r1"), Self.held("r1")) == [])
        #expect(cart.phase == .refused && cart.refusal == nil)
    }

    @Test func aCartWhoseCoordinatorDiedMidReservingIsUndone() {
        var cart = Self.cart()
        _ = cart.start()
        _ = cart.answered(.reserve(item: 0), Self.held("r0"))
        // The coordinator died with items 1 and 2 in flight; the record says what it knew.
        var recovered = cart
        let calls = recovered.recover()
        #expect(calls == [.release(item: 0, reservationId: "r0"), .reserve(item: 1), .reserve(item: 2)])
        #expect(recovered.phase == .undoing)
        _ = recovered.answered(calls[0], Self.held("r0"))
        #expect(recovered.answered(calls[1], .failure(.soldOut)) == [])
        #expect(recovered.answered(calls[2], Self.held("r2")) == [.release(item: 2, reservationId: "r2")])
        _ = recovered.answered(.release(item: 2, reservationId: "r2"), Self.held("r2"))
        #expect(recovered.phase == .refused)
    }

    @Test func aCommittingCartIsCarriedForwardAndReleaseResolvesEveryItem() {
        var cart = Self.cart(["a", "b"])
        _ = cart.start()
        _ = cart.answered(.reserve(item: 0), Self.held("r0"))
        _ = cart.answered(.reserve(item: 1), Self.held("r1"))
        _ = cart.commit()
        // The coordinator dies with its prepares in flight, as its record says: recovery prepares
        // both again (the first was prepared already, which answers the same) and commits both.
        var recovered = cart
        #expect(recovered.recover() == [.prepare(item: 0, reservationId: "r0"), .prepare(item: 1, reservationId: "r1")])
        _ = recovered.answered(.prepare(item: 0, reservationId: "r0"), Self.held("r0"))
        #expect(recovered.answered(.prepare(item: 1, reservationId: "r1"), Self.held("r1"))
            == [.commit(item: 0, reservationId: "r0"), .commit(item: 1, reservationId: "r1")])
        #expect(recovered.release() == [], "a committing cart is not released")
        _ = recovered.answered(.commit(item: 0, reservationId: "r0"), Self.held("r0"))
        // It dies again after one commit: the next recovery finds that item committed when it
        // prepares it, and commits the other.
        var again = recovered
        #expect(again.recover() == [.commit(item: 1, reservationId: "r1")])
        _ = again.answered(.commit(item: 1, reservationId: "r1"), Self.held("r1"))
        #expect(again.phase == .committed)
        var fromRecord = cart
        _ = fromRecord.recover()
        let committed = Reservation(id: "r0", sku: "a", user: "ann", quantity: 1, status: .committed, expiresAtMilliseconds: 0, requestId: "c1.0")
        #expect(fromRecord.answered(.prepare(item: 0, reservationId: "r0"), .success(committed)) == [])
        #expect(fromRecord.answered(.prepare(item: 1, reservationId: "r1"), Self.held("r1")) == [.commit(item: 1, reservationId: "r1")])
        #expect(fromRecord.states[0] == .committed)

        var other = Self.cart(["a", "b"])
        _ = other.start()
        _ = other.answered(.reserve(item: 0), Self.held("r0"))
        _ = other.answered(.reserve(item: 1), Self.held("r1"))
        let releases = other.release()
        #expect(releases == [.release(item: 0, reservationId: "r0"), .release(item: 1, reservationId: "r1")])
        #expect(other.commit() == [], "a releasing cart is not committed")
        _ = other.answered(releases[0], Self.held("r0"))
        // An item whose time ran out before the release reached it is expired, not released;
        // the cart, holding nothing, is released.
        _ = other.answered(releases[1], .failure(.refused(.expired)))
        #expect(other.phase == .released && other.states == [.released, .expired])
        let view = CartView(requestId: "q", progress: other, isNew: false)
        #expect(view.items.map(\.status) == [.released, .expired])
    }

    /// No item is committed unless all are: an item that expired (or was released by its buyer)
    /// before the cart could prepare it makes the cart let go of every item, prepared or not.
    @Test func anItemExpiredBeforeItIsPreparedExpiresTheWholeCart() {
        var cart = Self.cart()
        _ = cart.start()
        for (index, id) in ["r0", "r1", "r2"].enumerated() { _ = cart.answered(.reserve(item: index), Self.held(id)) }
        let prepares = cart.commit()
        #expect(cart.answered(prepares[0], Self.held("r0")) == [])
        // The pad expired while its node was away: nothing is committed; the prepared console and
        // the game, whose prepare is still in flight, are released.
        #expect(cart.answered(prepares[1], .failure(.refused(.expired)))
            == [.release(item: 0, reservationId: "r0"), .release(item: 2, reservationId: "r2")])
        #expect(cart.phase == .expiring && cart.states[1] == .expired)
        // The game's prepare answers after the release was sent: the release covers it.
        #expect(cart.answered(prepares[2], Self.held("r2")) == [])
        #expect(cart.states[2] == .prepared(reservationId: "r2"))
        _ = cart.answered(.release(item: 0, reservationId: "r0"), Self.held("r0"))
        #expect(cart.answered(.release(item: 2, reservationId: "r2"), Self.held("r2")) == [])
        #expect(cart.phase == .expired && cart.states == [.released, .expired, .released])
        #expect(!cart.states.contains(.committed))

        // Released by its buyer through the reservation API: the cart is released as one.
        var other = Self.cart(["a", "b"])
        _ = other.start()
        _ = other.answered(.reserve(item: 0), Self.held("r0"))
        _ = other.answered(.reserve(item: 1), Self.held("r1"))
        let otherPrepares = other.commit()
        #expect(other.answered(otherPrepares[1], .failure(.refused(.released))) == [.release(item: 0, reservationId: "r0")])
        // The release crossed the prepare on the wire: the prepare then finds it released.
        #expect(other.answered(otherPrepares[0], .failure(.refused(.released))) == [])
        #expect(other.phase == .released && other.states == [.released, .released])
        // The release's late answer changes nothing.
        #expect(other.answered(.release(item: 0, reservationId: "r0"), .failure(.refused(.released))) == [])
        #expect(other.phase == .released)
    }

    @Test func answersToCallsNotMadeChangeNothing() {
        var cart = Self.cart(["a"])
        _ = cart.start()
        _ = cart.answered(.reserve(item: 0), Self.held("r0"))
        let before = cart
        #expect(cart.answered(.reserve(item: 0), .failure(.soldOut)) == [])
        #expect(cart.answered(.release(item: 0, reservationId: "other"), Self.held("other")) == [])
        #expect(cart.answered(.commit(item: 0, reservationId: "r0"), Self.held("r0")) == [], "not committing")
        #expect(cart.answered(.prepare(item: 0, reservationId: "r0"), Self.held("r0")) == [], "not committing")
        #expect(cart == before)
    }
}
