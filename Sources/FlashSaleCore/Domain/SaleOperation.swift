/// Everything a coordinator can be asked about a SKU, as one value: the HTTP API builds it, the
/// routing decides where it runs (`FlashSaleRouting`), the peer protocol carries it to the owner,
/// the owner's shard runs it as one script call. Adding an operation means one case here, its
/// codec (FlashSalePeer's `SaleOperation+Wire.swift`), its routing rule (`sku`, and
/// `SaleRoute`'s rules where it differs) and its script call (`SKUStore.run`).
public enum SaleOperation: Sendable, Hashable {
    case defineSKU(sku: String, settings: SKUSettings)
    case skuState(sku: String)
    case reserve(sku: String, user: String, quantity: Int64, requestId: String)
    case reservation(sku: String, id: String)
    case commit(sku: String, id: String)
    case release(sku: String, id: String)
    /// A cart's calls on its items (`ReservationCommand`): every item is prepared before any is
    /// committed, and the cart releases its items with `cartRelease`, which also releases a
    /// prepared one. Never built from a client's request.
    case prepareCommit(sku: String, id: String)
    case cartRelease(sku: String, id: String)
    /// Ends the sale now, on the owner shard's clock; answers the SKU's state.
    case closeSKU(sku: String)
    // The steps of a transfer between the buckets of a split SKU (`PendingTransfer`): internal,
    // never built from a client's request.
    /// Half the available stock of bucket `sku` (the donor) for bucket index `recipient`, or the
    /// donor's unfinished transfer; `transferTaken(nil)` when the donor has nothing to give.
    case takeForTransfer(sku: String, recipient: Int)
    /// Adds the units to bucket `sku` (the recipient); `transferDelivered(isNew: false)` when it
    /// had taken this transfer already.
    case receiveTransfer(sku: String, PendingTransfer)
    /// Bucket `sku` (the donor) forgets the transfer, which its recipient has taken.
    case finishTransfer(sku: String, PendingTransfer)

    /// The SKU (or bucket) whose owner runs the operation: the routing rule of every operation.
    public var sku: String {
        switch self {
        case .defineSKU(let sku, _), .skuState(let sku), .reserve(let sku, _, _, _), .reservation(let sku, _),
            .commit(let sku, _), .release(let sku, _), .prepareCommit(let sku, _), .cartRelease(let sku, _), .closeSKU(let sku), .takeForTransfer(let sku, _), .receiveTransfer(let sku, _),
            .finishTransfer(let sku, _):
            sku
        }
    }

    /// The same operation on another SKU name (a split SKU's bucket).
    public func on(_ sku: String) -> SaleOperation {
        switch self {
        case .defineSKU(_, let settings): .defineSKU(sku: sku, settings: settings)
        case .skuState: .skuState(sku: sku)
        case .reserve(_, let user, let quantity, let requestId): .reserve(sku: sku, user: user, quantity: quantity, requestId: requestId)
        case .reservation(_, let id): .reservation(sku: sku, id: id)
        case .commit(_, let id): .commit(sku: sku, id: id)
        case .release(_, let id): .release(sku: sku, id: id)
        case .prepareCommit(_, let id): .prepareCommit(sku: sku, id: id)
        case .cartRelease(_, let id): .cartRelease(sku: sku, id: id)
        case .closeSKU: .closeSKU(sku: sku)
        case .takeForTransfer(_, let recipient): .takeForTransfer(sku: sku, recipient: recipient)
        case .receiveTransfer(_, let transfer): .receiveTransfer(sku: sku, transfer)
        case .finishTransfer(_, let transfer): .finishTransfer(sku: sku, transfer)
        }
    }
}

/// What a sale operation answered, success or refusal, as a value that crosses the peer link.
public enum SaleOutcome: Sendable, Hashable {
    case skuDefinition(SKUDefinition)
    case skuState(SKUState)
    case receipt(ReservationReceipt)
    case reservation(Reservation)
    /// What the donor took (nil: nothing to give).
    case transferTaken(PendingTransfer?)
    /// The recipient added the units now (or, `isNew` false, earlier); also the end of a finish.
    case transferDelivered(isNew: Bool)
    case failure(SaleError)

    /// The outcome's value of the kind the caller expects, or its refusal thrown. Another kind
    /// means an owner answered the wrong operation: reported as retryable rather than trusted.
    public func skuDefinition() throws(SaleError) -> SKUDefinition {
        if case .skuDefinition(let value) = self { return value }
        throw self.refusal
    }

    public func skuState() throws(SaleError) -> SKUState {
        if case .skuState(let value) = self { return value }
        throw self.refusal
    }

    public func receipt() throws(SaleError) -> ReservationReceipt {
        if case .receipt(let value) = self { return value }
        throw self.refusal
    }

    public func reservation() throws(SaleError) -> Reservation {
        if case .reservation(let value) = self { return value }
        throw self.refusal
    }

    public func transferTaken() throws(SaleError) -> PendingTransfer? {
        if case .transferTaken(let value) = self { return value }
        throw self.refusal
    }

    public func transferDelivered() throws(SaleError) -> Bool {
        if case .transferDelivered(let isNew) = self { return isNew }
        throw self.refusal
    }

    private var refusal: SaleError {
        if case .failure(let error) = self { return error }
        return .unavailable("the SKU's owner answered with the wrong kind of outcome")
    }

    /// A reservation-bearing outcome with its SKU renamed (a split SKU's bucket answers under the
    /// SKU's own name).
    public func renamingSKU(_ sku: String) -> SaleOutcome {
        switch self {
        case .receipt(var receipt):
            receipt.reservation.sku = sku
            return .receipt(receipt)
        case .reservation(var reservation):
            reservation.sku = sku
            return .reservation(reservation)
        default:
            return self
        }
    }
}

/// What a coordinator can be asked, whoever answers it: a shard's store, the routing node, the
/// split-SKU layer over it, or an in-memory double in tests.
public protocol SaleOperations: Sendable {
    func run(_ operation: SaleOperation) async -> SaleOutcome
}
