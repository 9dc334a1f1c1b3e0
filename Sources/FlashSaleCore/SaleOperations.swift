/// What a coordinator can be asked, whoever answers it: the local store now, the SKU's owner
/// over the peer protocol later. Every method throws `SaleError` for the answers that are refusals.
public protocol SaleOperations: Sendable {
    func defineSKU(_ sku: String, settings: SKUSettings) async throws -> SKUDefinition
    func skuState(_ sku: String) async throws -> SKUState
    func reserve(sku: String, user: String, quantity: Int64, requestId: String) async throws -> ReservationReceipt
    func reservation(sku: String, id: String) async throws -> Reservation
    func commit(sku: String, id: String) async throws -> Reservation
    func release(sku: String, id: String) async throws -> Reservation

    // The two halves of a transfer between buckets of a split SKU (`PendingTransfer`), and its end.
    /// Half the available stock of bucket `donor` for bucket index `recipient`, or the donor's
    /// unfinished transfer; nil when the donor has nothing to give.
    func takeForTransfer(donor: String, recipient: Int) async throws -> PendingTransfer?
    /// Adds the units to bucket `recipient`; false when it had taken this transfer already.
    func receiveTransfer(recipient: String, _ transfer: PendingTransfer) async throws -> Bool
    /// Bucket `donor` forgets the transfer, which its recipient has taken.
    func finishTransfer(donor: String, _ transfer: PendingTransfer) async throws
}
