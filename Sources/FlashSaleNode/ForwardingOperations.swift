import FlashSaleCluster
import FlashSaleCore
import FlashSalePeer
import FlashSaleRedis

/// The sale operations as every node serves them: run on the local shard when this node owns the
/// SKU under its membership, otherwise forwarded to the owner over the peer protocol. The owner
/// answers with a `SaleOutcome`, which this node renders exactly as the owner would have.
struct ForwardingOperations: SaleOperations {
    /// An entry node forwards once; the owner may forward once more if its membership is newer and
    /// names another owner. A third hop is refused: the nodes disagree and membership is changing.
    static let hopLimit: UInt8 = 2

    let nodeID: String
    let local: SKUStore
    let membership: @Sendable () -> Membership?
    let catchUp: @Sendable (Int64) async -> Void
    let peers: @Sendable () -> PeerPool?

    /// A forwarded request from a peer: first learn its membership if it is newer than ours.
    func serve(_ request: ForwardRequest) async -> ForwardResponse {
        await self.catchUp(request.senderEpoch)
        let outcome = await self.route(request.operation, hopLimit: request.hopLimit)
        return ForwardResponse(responderEpoch: self.membership()?.epoch ?? 0, outcome: outcome)
    }

    func route(_ operation: SaleOperation, hopLimit: UInt8, mayCatchUp: Bool = true) async -> SaleOutcome {
        guard let membership = self.membership() else {
            return .failure(.unavailable("this node has not joined the cluster yet; retry"))
        }
        guard let owner = membership.owner(of: operation.sku) else {
            return .failure(.unavailable("no node owns SKUs at membership epoch \(membership.epoch); retry"))
        }
        if owner.id == self.nodeID {
            let outcome = await operation.run(on: self.local)
            // Our shard knows a newer membership than we routed by: read it, and route again once.
            if case .failure(.staleMembership(let epoch)) = outcome, mayCatchUp {
                await self.catchUp(epoch)
                return await self.route(operation, hopLimit: hopLimit, mayCatchUp: false)
            }
            return outcome
        }
        guard hopLimit > 0 else {
            return .failure(.unavailable("the nodes disagree on who owns this SKU while membership changes; retry"))
        }
        guard let peers = self.peers(), let endpoint = PeerEndpoint(nodeID: owner.id, address: owner.peerAddress) else {
            return .failure(.unavailable("the SKU's owner \(owner.id) has no reachable peer address"))
        }
        do {
            let request = ForwardRequest(hopLimit: hopLimit - 1, senderEpoch: membership.epoch, operation: operation)
            return try await peers.forward(request, to: endpoint).outcome
        } catch {
            return .failure(.unavailable("\(error) (\(owner.id)); retry with the same requestId"))
        }
    }

    private func run(_ operation: SaleOperation) async throws(SaleError) -> SaleOutcome {
        let outcome = await self.route(operation, hopLimit: Self.hopLimit)
        if case .failure(let error) = outcome { throw error }
        return outcome
    }

    func defineSKU(_ sku: String, settings: SKUSettings) async throws(SaleError) -> SKUDefinition {
        guard case .skuDefinition(let definition) = try await self.run(.defineSKU(sku: sku, settings: settings)) else {
            throw Self.mismatch
        }
        return definition
    }

    func skuState(_ sku: String) async throws(SaleError) -> SKUState {
        guard case .skuState(let state) = try await self.run(.skuState(sku: sku)) else { throw Self.mismatch }
        return state
    }

    func reserve(sku: String, user: String, quantity: Int64, requestId: String) async throws(SaleError) -> ReservationReceipt {
        let operation = SaleOperation.reserve(sku: sku, user: user, quantity: quantity, requestId: requestId)
        guard case .receipt(let receipt) = try await self.run(operation) else { throw Self.mismatch }
        return receipt
    }

    func reservation(sku: String, id: String) async throws(SaleError) -> Reservation {
        try await self.resolution(.reservation(sku: sku, id: id))
    }

    func commit(sku: String, id: String) async throws(SaleError) -> Reservation {
        try await self.resolution(.commit(sku: sku, id: id))
    }

    func release(sku: String, id: String) async throws(SaleError) -> Reservation {
        try await self.resolution(.release(sku: sku, id: id))
    }

    private func resolution(_ operation: SaleOperation) async throws(SaleError) -> Reservation {
        guard case .reservation(let reservation) = try await self.run(operation) else { throw Self.mismatch }
        return reservation
    }

    private static let mismatch = SaleError.unavailable("the SKU's owner answered with the wrong kind of outcome")
}
