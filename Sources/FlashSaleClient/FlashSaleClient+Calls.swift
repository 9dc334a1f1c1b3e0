public import FlashSaleCore
public import Foundation

/// The API's calls, typed: each throws `FlashSaleClientError` when it does not get its answer.
extension FlashSaleClient {
    /// Defines a SKU or changes it (admin).
    public func defineSKU(_ sku: String, _ definition: SaleTerms) async throws(FlashSaleClientError) -> Made<SKUView> {
        let (view, status) = try await self.call(.defineSKU(sku, definition), expecting: [200, 201], as: SKUView.self)
        return Made(value: view, isNew: status == 201)
    }

    public func sku(_ sku: String) async throws(FlashSaleClientError) -> SKUView {
        try await self.call(.sku(sku), expecting: [200], as: SKUView.self).value
    }

    /// Ends the SKU's sale now, on its owner's clock (admin).
    public func closeSKU(_ sku: String) async throws(FlashSaleClientError) -> SKUView {
        try await self.call(.closeSKU(sku), expecting: [200], as: SKUView.self).value
    }

    /// Holds `quantity` units for `user`. The same `requestId` always answers the same
    /// reservation (`isNew` false after the first), which is what makes the retries safe: keep it
    /// for as long as the buyer's checkout attempt lasts.
    public func reserve(sku: String, user: String, quantity: Int64 = 1, requestId: String) async throws(FlashSaleClientError) -> Made<ReservationView> {
        let (reservation, status) = try await self.call(
            .reserve(sku: sku, user: user, quantity: quantity, requestId: requestId), expecting: [200, 201], as: ReservationView.self
        )
        return Made(value: reservation, isNew: status == 201)
    }

    public func reservation(sku: String, id: String) async throws(FlashSaleClientError) -> ReservationView {
        try await self.call(.reservation(sku: sku, id: id), expecting: [200], as: ReservationView.self).value
    }

    public func commit(sku: String, id: String) async throws(FlashSaleClientError) -> ReservationView {
        try await self.call(.commit(sku: sku, id: id), expecting: [200], as: ReservationView.self).value
    }

    public func release(sku: String, id: String) async throws(FlashSaleClientError) -> ReservationView {
        try await self.call(.release(sku: sku, id: id), expecting: [200], as: ReservationView.self).value
    }

    /// Holds every item or none (409 with the first refusal, its SKU in the refusal). The same
    /// `requestId` answers the same cart.
    public func createCart(user: String, requestId: String, items: [(sku: String, quantity: Int64)]) async throws(FlashSaleClientError) -> Made<CartAnswer> {
        let (cart, status) = try await self.call(.createCart(user: user, requestId: requestId, items: items), expecting: [200, 201], as: CartAnswer.self)
        return Made(value: cart, isNew: status == 201)
    }

    public func cart(id: String) async throws(FlashSaleClientError) -> CartAnswer {
        try await self.call(.cart(id: id), expecting: [200], as: CartAnswer.self).value
    }

    /// Commits every item of a held cart.
    public func commitCart(id: String) async throws(FlashSaleClientError) -> CartAnswer {
        try await self.call(.commitCart(id: id), expecting: [200], as: CartAnswer.self).value
    }

    /// Releases every item of a held cart.
    public func releaseCart(id: String) async throws(FlashSaleClientError) -> CartAnswer {
        try await self.call(.releaseCart(id: id), expecting: [200], as: CartAnswer.self).value
    }

    public func cluster() async throws(FlashSaleClientError) -> ClusterStatus {
        try await self.call(.cluster(), expecting: [200], as: ClusterStatus.self).value
    }

    /// Adds a node (admin); its SKUs move to it in the background.
    public func addNode(_ registration: NodeRegistration) async throws(FlashSaleClientError) {
        _ = try await self.body(of: .addNode(registration), expecting: [202])
    }

    /// Takes a node out (admin); its SKUs move to the others in the background.
    public func removeNode(_ id: String) async throws(FlashSaleClientError) {
        _ = try await self.body(of: .removeNode(id), expecting: [202])
    }

    /// Whether the node at `url` is up (`/healthz`) or ready to sell (`/readyz`).
    public func isHealthy(_ url: String) async -> Bool { await self.send(.node(url, .health)).status == 200 }
    public func isReady(_ url: String) async -> Bool { await self.send(.node(url, .readiness)).status == 200 }

    /// The node's Prometheus metrics, its statistics (JSON) or the API's OpenAPI document, as text.
    public func text(of resource: ClientRequest.NodeResource, at url: String) async throws(FlashSaleClientError) -> String {
        String(decoding: try await self.body(of: .node(url, resource), expecting: [200]).body, as: UTF8.self)
    }

    /// The answer's body when its status is one of `expected`; else the refusal or the failure.
    public func body(of request: ClientRequest, expecting expected: Set<Int>) async throws(FlashSaleClientError) -> (body: Data, status: Int) {
        let answer = await self.send(request)
        guard let status = answer.status else {
            throw .unanswered("\(answer.attempts.count) tries; last: \(answer.failure ?? "no answer")")
        }
        guard expected.contains(status) else {
            let fields = answer.fields
            throw .refused(
                .init(
                    status: status,
                    code: fields?["error"] as? String ?? "http_\(status)",
                    message: fields?["message"] as? String ?? String(decoding: answer.body.prefix(512), as: UTF8.self),
                    retryAfterSeconds: answer.retryAfterSeconds,
                    sku: fields?["sku"] as? String
                )
            )
        }
        return (answer.body, status)
    }

    private func call<Value: Decodable>(
        _ request: ClientRequest, expecting expected: Set<Int>, as type: Value.Type
    ) async throws(FlashSaleClientError) -> (value: Value, status: Int) {
        let (body, status) = try await self.body(of: request, expecting: expected)
        do {
            return (try JSONDecoder().decode(type, from: body), status)
        } catch {
            throw .unexpected("\(request.method) \(request.path) answered \(status) with \(String(decoding: body.prefix(512), as: UTF8.self))")
        }
    }
}
