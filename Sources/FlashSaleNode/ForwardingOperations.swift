import FlashSaleCluster
import FlashSaleCore
import FlashSalePeer
import FlashSaleRedis

/// The sale operations as every node serves them: run on the local shard when this node owns the
/// SKU under its membership, otherwise forwarded to the owner over the peer protocol. The owner
/// answers with a `SaleOutcome`, which this node renders exactly as the owner would have. While
/// SKUs move, the owner asks a SKU's previous owner for what has not reached its own shard yet
/// (Docs/ARCHITECTURE.md, "Handoff").
struct ForwardingOperations: SaleOperations {
    /// An entry node forwards once; the owner may forward once more if its membership is newer and
    /// names another owner. A third hop is refused: the nodes disagree and membership is changing.
    static let hopLimit: UInt8 = 2

    let nodeID: String
    let local: SKUStore
    let adopted: AdoptedShards
    let membership: @Sendable () -> Membership?
    let catchUp: @Sendable (Int64) async -> Void
    let peers: @Sendable () -> PeerPool?

    /// A forwarded request from a peer: first learn its membership if it is newer than ours.
    func serve(_ request: ForwardRequest) async -> ForwardResponse {
        await self.catchUp(request.senderEpoch)
        let outcome = await self.route(request.operation, hopLimit: request.hopLimit)
        return ForwardResponse(responderEpoch: self.membership()?.epoch ?? 0, outcome: outcome)
    }

    /// The SKU's new owner asks: run the operation here if the SKU is still in this shard. Never
    /// forwarded, and a define only updates: a SKU this shard does not hold is the new owner's to create.
    func serveAsPreviousOwner(_ request: ForwardRequest) async -> ForwardResponse {
        await self.catchUp(request.senderEpoch)
        // Asked as the adopter of a gone previous owner's shard, the call runs on that shard.
        var store = self.local
        if let membership = self.membership(), let previous = membership.previousOwner(of: request.operation.sku),
            previous.id != self.nodeID, previous.adoptedBy == self.nodeID
        {
            guard let adopted = self.adopted.store(for: previous) else {
                return ForwardResponse(responderEpoch: membership.epoch, outcome: .failure(.unavailable("no valid Redis URL for \(previous.id)")))
            }
            store = adopted
        }
        let outcome = await Self.runWithoutCreating(request.operation, on: store)
        return ForwardResponse(responderEpoch: self.membership()?.epoch ?? 0, outcome: outcome)
    }

    /// Runs `operation` on `store`, with a define only updating a SKU that is there.
    private static func runWithoutCreating(_ operation: SaleOperation, on store: SKUStore) async -> SaleOutcome {
        guard case .defineSKU(let sku, let settings) = operation else { return await operation.run(on: store) }
        do {
            return .skuDefinition(try await store.defineSKU(sku, settings: settings, mayCreate: false))
        } catch {
            return .failure(error)
        }
    }

    func route(_ operation: SaleOperation, hopLimit: UInt8, mayCatchUp: Bool = true) async -> SaleOutcome {
        guard let membership = self.membership() else {
            return .failure(.unavailable("this node has not joined the cluster yet; retry"))
        }
        guard let owner = membership.owner(of: operation.sku) else {
            return .failure(.unavailable("no node owns SKUs at membership epoch \(membership.epoch); retry"))
        }
        // The owner serves its shard, or while it is gone, the survivor that adopted it.
        let server = membership.server(of: owner)
        if server.id == self.nodeID {
            let store = self.adopted.served(owner, in: membership)
            let outcome =
                if let store {
                    await self.runAsOwner(operation, on: store, previousOwner: membership.previousOwner(of: operation.sku), in: membership)
                } else {
                    SaleOutcome.failure(.unavailable("the shard of \(owner.id) has no valid Redis URL"))
                }
            // The shard knows a newer membership than we routed by: read it, and route again once.
            if case .failure(.staleMembership(let epoch)) = outcome, mayCatchUp {
                await self.catchUp(epoch)
                return await self.route(operation, hopLimit: hopLimit, mayCatchUp: false)
            }
            return outcome
        }
        guard hopLimit > 0 else {
            return .failure(.unavailable("the nodes disagree on who owns this SKU while membership changes; retry"))
        }
        guard let peers = self.peers(), let endpoint = PeerEndpoint(nodeID: server.id, address: server.peerAddress) else {
            return .failure(.unavailable("the SKU's owner \(server.id) has no reachable peer address"))
        }
        do {
            let request = ForwardRequest(hopLimit: hopLimit - 1, senderEpoch: membership.epoch, operation: operation, traceId: RequestTrace.id ?? "")
            return try await peers.forward(request, to: endpoint).outcome
        } catch {
            return .failure(.unavailable("\(error) (\(server.id)); retry with the same requestId"))
        }
    }

    /// Runs `operation` on this node's shard. While the SKU has a previous owner, a SKU this shard
    /// does not hold yet is asked of that node: it serves the SKU while it still holds it, answers
    /// `moved` (503) while the SKU is in transit, and `unknownSKU` when it never had it; only then
    /// does a define create the SKU here. (Scripts on a reservation answer `unknownReservation`
    /// for a SKU the shard does not hold, so that answer is asked about too.)
    private func runAsOwner(
        _ operation: SaleOperation,
        on store: SKUStore,
        previousOwner: Membership.Node?,
        in membership: Membership
    ) async -> SaleOutcome {
        guard let previousOwner else { return await operation.run(on: store) }
        let outcome = await Self.runWithoutCreating(operation, on: store)
        switch outcome {
        case .failure(.unknownSKU), .failure(.unknownReservation):
            break
        default:
            return outcome
        }
        let previous = await self.askPreviousOwner(previousOwner, operation, in: membership)
        switch (previous, operation) {
        case (.failure(.unknownSKU), .defineSKU):
            return await operation.run(on: store)
        case (.failure(.moved), _):
            // The SKU left the previous owner; it may have arrived here meanwhile, and then this
            // shard's answer stands (a reservation it does not know is unknown).
            guard case .failure(.unknownReservation) = outcome, (try? await store.skuState(operation.sku)) != nil else {
                return previous
            }
            return await operation.run(on: store)
        default:
            return previous
        }
    }

    /// Asks the node that serves the previous owner's shard: the previous owner, or the node that
    /// adopted its shard while it is gone. When that is this node, it runs the call on that shard itself.
    private func askPreviousOwner(_ node: Membership.Node, _ operation: SaleOperation, in membership: Membership) async -> SaleOutcome {
        let server = membership.server(of: node)
        if server.id == self.nodeID {
            // This node's own shard (the owner is a gone node this node serves), or one it adopted.
            guard let store = self.adopted.served(node, in: membership) else {
                return .failure(.unavailable("the shard of \(node.id) has no valid Redis URL"))
            }
            return await Self.runWithoutCreating(operation, on: store)
        }
        guard let peers = self.peers(), let endpoint = PeerEndpoint(nodeID: server.id, address: server.peerAddress) else {
            return .failure(.unavailable("the SKU's previous owner \(server.id) has no reachable peer address; retry"))
        }
        do {
            let request = ForwardRequest(hopLimit: 0, senderEpoch: membership.epoch, operation: operation, traceId: RequestTrace.id ?? "")
            let outcome = try await peers.askPreviousOwner(request, at: endpoint).outcome
            // Its shard knows a newer membership than we asked under: the SKU's place may have changed again.
            if case .failure(.staleMembership) = outcome {
                return .failure(.unavailable("the membership is changing; retry"))
            }
            return outcome
        } catch {
            return .failure(.unavailable("\(error) (\(server.id), serving the SKU's previous owner); retry with the same requestId"))
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

    func takeForTransfer(donor: String, recipient: Int) async throws(SaleError) -> PendingTransfer? {
        guard case .transferTaken(let transfer) = try await self.run(.takeForTransfer(sku: donor, recipient: recipient)) else {
            throw Self.mismatch
        }
        return transfer
    }

    func receiveTransfer(recipient: String, _ transfer: PendingTransfer) async throws(SaleError) -> Bool {
        guard case .transferDelivered(let isNew) = try await self.run(.receiveTransfer(sku: recipient, transfer)) else {
            throw Self.mismatch
        }
        return isNew
    }

    func finishTransfer(donor: String, _ transfer: PendingTransfer) async throws(SaleError) {
        guard case .transferDelivered = try await self.run(.finishTransfer(sku: donor, transfer)) else { throw Self.mismatch }
    }

    private func resolution(_ operation: SaleOperation) async throws(SaleError) -> Reservation {
        guard case .reservation(let reservation) = try await self.run(operation) else { throw Self.mismatch }
        return reservation
    }

    private static let mismatch = SaleError.unavailable("the SKU's owner answered with the wrong kind of outcome")
}
