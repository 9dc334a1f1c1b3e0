import FlashSaleCluster
import FlashSaleCore
import FlashSalePeer
import FlashSaleRecord
import FlashSaleRedis
import FlashSaleRouting

/// The sale operations as every node serves them: the I/O shell of `SaleRoute`, which decides
/// where each operation runs (a shard this node serves, the owner over the peer protocol, the
/// previous owner while SKUs move); this type only carries its steps out. An owner answers with a
/// `SaleOutcome`, which this node renders exactly as the owner would have. A shard that answers
/// that the SKU is archived sends the operation to the record (`ArchivedRecord`).
struct ClusterOperations: SaleOperations {
    let nodeID: String
    let local: SKUStore
    let adopted: AdoptedShards
    let membership: @Sendable () -> Membership?
    let catchUp: @Sendable (Int64) async -> Void
    let peers: PeerPool?
    /// Nil for a node without PostgreSQL, which never archives.
    let archivedRecord: ArchivedRecord?

    func run(_ operation: SaleOperation) async -> SaleOutcome {
        await self.route(operation, hopLimit: SaleRoute.hopLimit)
    }

    /// A forwarded request from a peer: first learn its membership if it is newer than ours.
    func serve(_ request: ForwardRequest) async -> ForwardResponse {
        await self.catchUp(request.senderEpoch)
        let outcome = await self.route(request.operation, hopLimit: request.hopLimit)
        return ForwardResponse(responderEpoch: self.membership()?.epoch ?? 0, outcome: outcome)
    }

    /// The SKU's new owner asks: run the operation here if the SKU is still in this shard.
    func serveAsPreviousOwner(_ request: ForwardRequest) async -> ForwardResponse {
        await self.catchUp(request.senderEpoch)
        let step = SaleRoute.asPreviousOwner(request.operation, nodeID: self.nodeID, membership: self.membership())
        let outcome = await self.carryOut(step)
        return ForwardResponse(responderEpoch: self.membership()?.epoch ?? 0, outcome: outcome)
    }

    private func route(_ operation: SaleOperation, hopLimit: UInt8) async -> SaleOutcome {
        var route = SaleRoute(operation, nodeID: self.nodeID, hopLimit: hopLimit)
        var step = route.start(self.membership())
        while true {
            switch step {
            case .answer(let outcome):
                return outcome
            case .catchUp(let epoch):
                await self.catchUp(epoch)
                step = route.caughtUp(self.membership())
            case .run, .forward, .askPreviousOwner:
                step = route.finished(await self.carryOut(step))
            }
        }
    }

    /// One step that runs the operation somewhere: on a shard here, or on a peer.
    private func carryOut(_ step: SaleRoute.Step) async -> SaleOutcome {
        switch step {
        case .run(let operation, let shard, let mayCreate):
            guard let store = self.store(shard) else {
                return .failure(.unavailable(Self.noValidURL(shard)))
            }
            let outcome = await store.run(operation, mayCreate: mayCreate)
            if case .failure(.archived) = outcome, let archivedRecord = self.archivedRecord {
                return await archivedRecord.answer(operation)
            }
            return outcome
        case .forward(let operation, let node, let hopLimit, let epoch):
            guard let peers = self.peers, let endpoint = PeerEndpoint(nodeID: node.id, address: node.peerAddress) else {
                return .failure(.unavailable("the SKU's owner \(node.id) has no reachable peer address"))
            }
            let request = ForwardRequest(hopLimit: hopLimit, senderEpoch: epoch, operation: operation, traceId: RequestTrace.id ?? "")
            do {
                return try await peers.forward(request, to: endpoint).outcome
            } catch {
                return .failure(.unavailable("\(error) (\(node.id)); retry with the same requestId"))
            }
        case .askPreviousOwner(let operation, let node, let epoch):
            guard let peers = self.peers, let endpoint = PeerEndpoint(nodeID: node.id, address: node.peerAddress) else {
                return .failure(.unavailable("the SKU's previous owner \(node.id) has no reachable peer address; retry"))
            }
            let request = ForwardRequest(hopLimit: 0, senderEpoch: epoch, operation: operation, traceId: RequestTrace.id ?? "")
            do {
                return try await peers.askPreviousOwner(request, at: endpoint).outcome
            } catch {
                return .failure(.unavailable("\(error) (\(node.id), serving the SKU's previous owner); retry with the same requestId"))
            }
        case .catchUp, .answer:
            preconditionFailure("not an operation step: \(step)")
        }
    }

    private func store(_ shard: SaleRoute.Shard) -> SKUStore? {
        switch shard {
        case .own: self.local
        case .served(let node, let membership): self.adopted.served(node, in: membership)
        case .adopted(let node): self.adopted.store(for: node)
        }
    }

    private static func noValidURL(_ shard: SaleRoute.Shard) -> String {
        switch shard {
        case .own: "this node's shard has no valid Redis URL"
        case .served(let node, _): "the shard of \(node.id) has no valid Redis URL"
        case .adopted(let node): "no valid Redis URL for \(node.id)"
        }
    }
}
