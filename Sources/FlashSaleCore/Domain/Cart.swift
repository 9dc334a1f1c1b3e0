/// What the API answers about a cart: its items' reservations as the cart's record has them.
public struct CartView: Sendable, Hashable {
    public var id: String
    public var user: String
    public var requestId: String
    public var phase: CartProgress.Phase
    /// The first item's expiry once every item is held (milliseconds since 1970).
    public var expiresAtMilliseconds: Int64?
    /// In the order the cart named them; an item not reserved (yet) has no reservation id.
    public var items: [Item]
    /// True for the answer that created the cart (201), false for a repeated requestId (200).
    public var isNew: Bool

    public struct Item: Sendable, Hashable {
        public var sku: String
        public var quantity: Int64
        public var reservationId: String?
        public var status: ReservationStatus?
        public var expiresAtMilliseconds: Int64?
        /// The item's reservation's requestId, derived from the cart's.
        public var requestId: String

        public init(
            sku: String, quantity: Int64, reservationId: String?, status: ReservationStatus?, expiresAtMilliseconds: Int64?, requestId: String
        ) {
            self.sku = sku
            self.quantity = quantity
            self.reservationId = reservationId
            self.status = status
            self.expiresAtMilliseconds = expiresAtMilliseconds
            self.requestId = requestId
        }
    }

    public init(requestId: String, progress: CartProgress, isNew: Bool) {
        self.id = progress.cartID
        self.user = progress.user
        self.requestId = requestId
        self.phase = progress.phase
        self.expiresAtMilliseconds = progress.expiresAtMilliseconds
        self.isNew = isNew
        self.items = progress.items.indices.map { index in
            let status: ReservationStatus? =
                switch progress.states[index] {
                case .held, .prepared: .reserved
                case .committed: .committed
                case .released: .released
                case .expired: .expired
                case .asking, .refused, .unresolved: nil
                }
            return Item(
                sku: progress.items[index].sku, quantity: progress.items[index].quantity,
                reservationId: progress.reservationIds[index], status: status,
                expiresAtMilliseconds: progress.expiries[index], requestId: progress.requestId(ofItem: index)
            )
        }
    }
}

/// Why a cart call was refused.
public enum CartError: Error, Sendable, Hashable {
    /// An item was refused: nothing of the cart is held. The first refusal in item order, with its SKU.
    case refused(sku: String, SaleError)
    /// The cart could not be completed (an item's node did not answer) and was undone: nothing is
    /// held. A new requestId may try again.
    case abandoned
    case unknownCart
    /// The call does not fit the cart (a requestId reused for other items, a commit of a released
    /// cart, a commit too close to the cart's expiry).
    case conflict(code: String, String)
    /// A refusal of the kind single reservations have: invalid input, or retry later (503).
    case sale(SaleError)
}

/// The carts API, whoever serves it.
public protocol CartService: Sendable {
    func create(user: String, requestId: String, items: [CartProgress.Item]) async throws(CartError) -> CartView
    func cart(id: String) async throws(CartError) -> CartView
    func commit(id: String) async throws(CartError) -> CartView
    func release(id: String) async throws(CartError) -> CartView
}
