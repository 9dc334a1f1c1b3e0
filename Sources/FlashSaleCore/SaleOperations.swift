/// What a coordinator can be asked, whoever answers it: the local store now, the SKU's owner
/// over the peer protocol later. Every method throws `SaleError` for the answers that are refusals.
public protocol SaleOperations: Sendable {
    func defineSKU(_ sku: String, settings: SKUSettings) async throws -> SKUDefinition
    func skuState(_ sku: String) async throws -> SKUState
    func reserve(sku: String, user: String, quantity: Int64, requestId: String) async throws -> ReservationReceipt
    func reservation(sku: String, id: String) async throws -> Reservation
    func commit(sku: String, id: String) async throws -> Reservation
    func release(sku: String, id: String) async throws -> Reservation
}
