/// A cart (issue 17): several SKUs, on whichever nodes own them, held together or not at all. This
/// is its coordinator's side, pure: which calls on the items to make next, given what each
/// answered. Each item is an ordinary reservation, asked for under a requestId derived from the
/// cart's, so that asking again (a retry, or a recovery after the coordinator died) finds the
/// reservation the first ask made, if it made one.
///
/// Reserving: every item is reserved at once. All held: the cart is `held`. One refused: the cart
/// is `undoing`, every item held is released (and every item still in flight as it answers), and
/// then the cart is `refused`. An item that cannot be reached is asked again up to
/// `attemptsMax` times; after that the cart stays `undoing` with that item `unresolved`, and
/// whoever recovers the cart's record (`recover`) asks again until it resolves.
/// Commit and release resolve every item of a held cart; each call is repeated until it answers.
/// A commit is in two halves, so that no item is committed unless all are: every item is first
/// prepared (`ReservationCommand.prepareCommit`: it no longer expires and refuses a buyer's own
/// release), and only once all are prepared is each committed, which then cannot fail however
/// late it comes. An item found expired or released when it is prepared means the cart cannot
/// commit: it expires (or is released) as one, what was prepared released by `cartRelease`.
/// A held cart past its expiry is released as one (`expire`): its items may expire at different
/// instants (their SKUs' TTLs), and none outlives the cart. The cart releases its items with
/// `cartRelease` (a release that also releases a prepared item), so that a release crossing an
/// item's prepare on the wire never leaves it held.
public struct CartProgress: Sendable, Hashable {
    public struct Item: Sendable, Hashable {
        public var sku: String
        public var quantity: Int64

        public init(sku: String, quantity: Int64) {
            self.sku = sku
            self.quantity = quantity
        }
    }

    public enum Phase: String, Sendable, Hashable, CaseIterable {
        case reserving
        /// Some item was refused, or could not be reached: what is held is being released.
        case undoing
        /// Every item is reserved.
        case held
        /// Nothing is held; the cart was refused (or given up).
        case refused
        case committing
        case committed
        case releasing
        case released
        /// Past its expiry: what its items still hold is being released.
        case expiring
        case expired

        /// Nothing more happens to a cart in this phase.
        public var isFinal: Bool {
            switch self {
            case .held, .refused, .committed, .released, .expired: true
            case .reserving, .undoing, .committing, .releasing, .expiring: false
            }
        }
    }

    public enum ItemState: Sendable, Hashable {
        /// Asked for, no answer yet (or not asked yet).
        case asking
        case held(reservationId: String)
        /// Held, and prepared for the cart's commit: it waits for the commit (or the cart's release).
        case prepared(reservationId: String)
        case refused(SaleError)
        /// Released (now, or found released already): holds nothing.
        case released
        /// Found expired when it was to be released: holds nothing, and says so truthfully (a
        /// release does not make an expired reservation released).
        case expired
        case committed
        /// Its calls got no usable answer `attemptsMax` times: held or not, unknown until asked again.
        case unresolved
    }

    public enum Call: Sendable, Hashable {
        case reserve(item: Int)
        case release(item: Int, reservationId: String)
        case prepare(item: Int, reservationId: String)
        case commit(item: Int, reservationId: String)
    }

    public let cartID: String
    public let user: String
    public let items: [Item]
    public let attemptsMax: Int
    public private(set) var phase: Phase
    public private(set) var states: [ItemState]
    /// Each item's reservation once one was made (kept when it is committed or released).
    public private(set) var reservationIds: [String?]
    /// When each item's reservation expires, on its shard's clock.
    public private(set) var expiries: [Int64?]
    private var attempts: [Int]

    public init(cartID: String, user: String, items: [Item], attemptsMax: Int = 5) {
        precondition(!items.isEmpty && attemptsMax >= 1)
        self.cartID = cartID
        self.user = user
        self.items = items
        self.attemptsMax = attemptsMax
        self.phase = .reserving
        self.states = Array(repeating: .asking, count: items.count)
        self.reservationIds = Array(repeating: nil, count: items.count)
        self.expiries = Array(repeating: nil, count: items.count)
        self.attempts = Array(repeating: 0, count: items.count)
    }

    /// A cart as its record has it, to be recovered or resolved.
    public init(
                cartID: String, user: String, items: [Item], phase: Phase, states: [ItemState], reservationIds: [String?], expiries: [Int64?],
        attemptsMax: Int = 5
    ) {
        precondition(!items.isEmpty && attemptsMax >= 1)
        precondition(states.count == items.count && reservationIds.count == items.count && expiries.count == items.count)
        self.cartID = cartID
        self.user = user
        self.items = items
        self.attemptsMax = attemptsMax
        self.phase = phase
        self.states = states
        self.reservationIds = reservationIds
        self.expiries = expiries
        self.attempts = Array(repeating: 0, count: items.count)
    }

    /// When the cart expires: its first item's expiry, once every item is held.
    public var expiresAtMilliseconds: Int64? {
        let known = self.expiries.compactMap { $0 }
        return known.count == self.items.count ? known.min() : nil
    }

    /// The id of the cart `user` asks for under `requestId`: the same on every node, so that a
    /// repeated requestId finds the cart wherever it lands.
    public static func cartID(user: String, requestId: String) -> String {
        let hash = String(StableHash.of(user + "\u{1F}" + requestId), radix: 16)
        return "cart-" + String(repeating: "0", count: 16 - hash.count) + hash
    }

    /// Item `index`'s requestId: the same for every ask of it, by any node.
    public func requestId(ofItem index: Int) -> String { Self.requestId(ofItem: index, inCart: self.cartID) }

    /// Item `index` of cart `cartID`'s requestId: the cart's id, a dot and the item's position.
    public static func requestId(ofItem index: Int, inCart cartID: String) -> String { "\(cartID).\(index)" }

    /// The first reservation calls: every item at once.
    public mutating func start() -> [Call] {
        precondition(self.phase == .reserving)
        return self.items.indices.map { .reserve(item: $0) }
    }

    /// The first refusal in item order, with its SKU: what a refused cart answers.
    public var refusal: (sku: String, error: SaleError)? {
        for (index, state) in self.states.enumerated() {
            if case .refused(let error) = state { return (self.items[index].sku, error) }
        }
        return nil
    }

    /// Whether `error` may go away if the call is made again (the item's node is down, moving, busy).
    public static func isRetryable(_ error: SaleError) -> Bool {
        switch error {
        case .unavailable, .staleMembership, .moved: true
        default: false
        }
    }

    /// What a call answered; answers the calls to make next.
    public mutating func answered(_ call: Call, _ outcome: Result<Reservation, SaleError>) -> [Call] {
        switch call {
        case .reserve(let index): return self.reserveAnswered(index, outcome)
        case .release(let index, let id): return self.releaseAnswered(index, id: id, outcome)
        case .prepare(let index, let id): return self.prepareAnswered(index, id: id, outcome)
        case .commit(let index, let id): return self.commitAnswered(index, id: id, outcome)
        }
    }

    /// Commits every item of a held cart.
    public mutating func commit() -> [Call] { self.resolveHeld(as: .committing) }

    /// Releases every item of a held cart.
    public mutating func release() -> [Call] { self.resolveHeld(as: .releasing) }

    /// Releases what a held cart past its expiry still holds: it expires as one.
    public mutating func expire() -> [Call] { self.resolveHeld(as: .expiring) }

    /// A held cart starts committing, releasing or expiring every item.
    private mutating func resolveHeld(as phase: Phase) -> [Call] {
        guard self.phase == .held else { return [] }
        self.phase = phase
        self.attempts = self.attempts.map { _ in 0 }
        return self.resolvingCalls
    }

    /// What a committing, releasing or expiring cart still has to do: a call per item still held.
    /// A committing cart prepares every item still only held, and commits once none is.
    private var resolvingCalls: [Call] {
        guard self.phase == .committing else { return self.heldCalls { .release(item: $0, reservationId: $1) } }
        return self.hasItemNotPrepared
            ? self.heldCalls { .prepare(item: $0, reservationId: $1) } : self.heldCalls { .commit(item: $0, reservationId: $1) }
    }

    /// Whether some item is held but not yet prepared: a committing cart commits none until no item is.
    private var hasItemNotPrepared: Bool {
        self.states.contains { if case .held = $0 { true } else { false } }
    }

    /// A call for each item that holds its reservation, prepared or not.
    private func heldCalls(_ make: (Int, String) -> Call) -> [Call] {
        self.states.enumerated().compactMap { index, state in
            switch state {
            case .held(let id), .prepared(let id): make(index, id)
            default: nil
            }
        }
    }

    /// A cart found in its record unfinished (its coordinator died, or gave up on an item): a
    /// reserving cart is undone, as its answer was never given or was a 503. Every item not known
    /// to be free is asked again: reserved again under its requestId (which answers the
    /// reservation the first ask made, if any), then released. A committing cart prepares again
    /// every item not known prepared (a prepared or committed one answers so) and commits once all
    /// are; a releasing or expiring one releases what is still held.
    public mutating func recover() -> [Call] {
        self.attempts = self.attempts.map { _ in 0 }
        switch self.phase {
        case .reserving, .undoing:
            self.phase = .undoing
            var calls: [Call] = []
            for index in self.items.indices {
                switch self.states[index] {
                case .asking, .unresolved:
                    self.states[index] = .asking
                    calls.append(.reserve(item: index))
                case .held(let id), .prepared(let id):
                    calls.append(.release(item: index, reservationId: id))
                case .refused, .released, .expired, .committed:
                    break
                }
            }
            return calls.isEmpty ? self.settleUndo() : calls
        case .committing:
            return self.settleCommit(self.resolvingCalls)
        case .releasing, .expiring:
            let calls = self.resolvingCalls
            return calls.isEmpty ? self.settleRelease() : calls
        case .held, .refused, .committed, .released, .expired:
            return []
        }
    }

    private mutating func reserveAnswered(_ index: Int, _ outcome: Result<Reservation, SaleError>) -> [Call] {
        guard self.states[index] == .asking else { return [] }
        switch outcome {
        case .success(let reservation):
            self.states[index] = .held(reservationId: reservation.id)
            self.reservationIds[index] = reservation.id
            self.expiries[index] = reservation.expiresAtMilliseconds
            switch self.phase {
            case .reserving:
                if self.states.allSatisfy({ if case .held = $0 { true } else { false } }) { self.phase = .held }
                return []
            case .undoing:
                return [.release(item: index, reservationId: reservation.id)]
            default:
                return []
            }
        case .failure(let error) where Self.isRetryable(error):
            self.attempts[index] += 1
            if self.attempts[index] < self.attemptsMax { return [.reserve(item: index)] }
            self.states[index] = .unresolved
            return self.startUndo()
        case .failure(let error):
            self.states[index] = .refused(error)
            return self.startUndo()
        }
    }

    /// Some item was refused or unresolved: release what is held, and settle once nothing is in flight.
    private mutating func startUndo() -> [Call] {
        guard self.phase == .reserving else { return self.settleUndo() }
        self.phase = .undoing
        let releases = self.heldCalls { .release(item: $0, reservationId: $1) }
        return releases.isEmpty ? self.settleUndo() : releases
    }

    private mutating func settleUndo() -> [Call] {
        let settled = self.states.allSatisfy { state in
            switch state {
            case .refused, .released, .expired: true
            default: false
            }
        }
        if settled { self.phase = .refused }
        return []
    }

    private mutating func releaseAnswered(_ index: Int, id: String, _ outcome: Result<Reservation, SaleError>) -> [Call] {
        guard self.states[index] == .held(reservationId: id) || self.states[index] == .prepared(reservationId: id) else { return [] }
        switch outcome {
        case .success, .failure(.refused(.released)):
            self.states[index] = .released
        case .failure(.refused(.expired)):
            self.states[index] = .expired
        case .failure(let error) where Self.isRetryable(error):
            self.attempts[index] += 1
            if self.attempts[index] < self.attemptsMax { return [.release(item: index, reservationId: id)] }
            return []
        case .failure:
            // Committed (never by this cart unless it committed), or unknown: nothing to release.
            self.states[index] = .released
        }
        switch self.phase {
        case .undoing: return self.settleUndo()
        case .releasing, .expiring: return self.settleRelease()
        default: return []
        }
    }

    /// A releasing or expiring cart ends once none of its items holds anything.
    private mutating func settleRelease() -> [Call] {
        if self.states.allSatisfy({ $0 == .released || $0 == .expired }) { self.phase = self.phase == .releasing ? .released : .expired }
        return []
    }

    private mutating func prepareAnswered(_ index: Int, id: String, _ outcome: Result<Reservation, SaleError>) -> [Call] {
        // Prepares are sent while committing; one may answer after the cart began to let go.
        let preparing: Set<Phase> = [.committing, .releasing, .expiring]
        guard preparing.contains(self.phase), self.states[index] == .held(reservationId: id) else { return [] }
        switch outcome {
        case .success(let reservation) where reservation.status == .committed:
            // A coordinator before this one had prepared every item and committed this one.
            self.states[index] = .committed
        case .success:
            self.states[index] = .prepared(reservationId: id)
        case .failure(let error) where Self.isRetryable(error):
            self.attempts[index] += 1
            return self.attempts[index] < self.attemptsMax ? [.prepare(item: index, reservationId: id)] : []
        case .failure(let error):
            // Expired or released before it was prepared (or gone): nothing of it is held, and
            // the cart cannot commit, so it lets go of every item as one.
            self.states[index] = error == .refused(.expired) ? .expired : .released
            guard self.phase == .committing else { return self.phase == .releasing || self.phase == .expiring ? self.settleRelease() : [] }
            self.phase = error == .refused(.expired) ? .expiring : .releasing
            self.attempts = self.attempts.map { _ in 0 }
            let releases = self.resolvingCalls
            return releases.isEmpty ? self.settleRelease() : releases
        }
        // Every item prepared (none only held): each is committed. A prepare answered while the
        // cart lets go is covered by the release sent when it began.
        guard self.phase == .committing, !self.hasItemNotPrepared else { return [] }
        return self.settleCommit(self.resolvingCalls)
    }

    /// A committing cart whose items are all committed is committed.
    private mutating func settleCommit(_ calls: [Call]) -> [Call] {
        if self.states.allSatisfy({ $0 == .committed }) { self.phase = .committed }
        return calls
    }

    private mutating func commitAnswered(_ index: Int, id: String, _ outcome: Result<Reservation, SaleError>) -> [Call] {
        guard self.phase == .committing, self.states[index] == .prepared(reservationId: id) else { return [] }
        switch outcome {
        case .success:
            self.states[index] = .committed
            if self.states.allSatisfy({ $0 == .committed }) { self.phase = .committed }
            return []
        case .failure(let error) where Self.isRetryable(error):
            self.attempts[index] += 1
            return self.attempts[index] < self.attemptsMax ? [.commit(item: index, reservationId: id)] : []
        case .failure(let error):
            // A prepared item neither expires nor is released by anyone but this cart, so this
            // is a broken promise (its shard lost the preparation), kept visible rather than hidden.
            self.states[index] = .refused(error)
            return []
        }
    }
}
