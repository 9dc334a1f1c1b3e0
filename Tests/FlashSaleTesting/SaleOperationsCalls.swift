public import FlashSaleCore

/// The sale operations as throwing calls, for tests that read better that way: each builds its
/// `SaleOperation`, runs it, and unwraps the outcome (a refusal is thrown as its `SaleError`).
extension SaleOperations {
    public func defineSKU(_ sku: String, settings: SKUSettings) async throws(SaleError) -> SKUDefinition {
        try await self.run(.defineSKU(sku: sku, settings: settings)).skuDefinition()
    }

    public func skuState(_ sku: String) async throws(SaleError) -> SKUState {
        try await self.run(.skuState(sku: sku)).skuState()
    }

    public func reserve(sku: String, user: String, quantity: Int64, requestId: String) async throws(SaleError) -> ReservationReceipt {
        try await self.run(.reserve(sku: sku, user: user, quantity: quantity, requestId: requestId)).receipt()
    }

    public func reservation(sku: String, id: String) async throws(SaleError) -> Reservation {
        try await self.run(.reservation(sku: sku, id: id)).reservation()
    }

    public func commit(sku: String, id: String) async throws(SaleError) -> Reservation {
        try await self.run(.commit(sku: sku, id: id)).reservation()
    }

    public func release(sku: String, id: String) async throws(SaleError) -> Reservation {
        try await self.run(.release(sku: sku, id: id)).reservation()
    }
}
