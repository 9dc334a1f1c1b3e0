public import FlashSaleCluster
public import FlashSaleCore

/// Where one sale operation runs, decided without I/O: on a shard this node serves, forwarded to
/// the SKU's owner, asked of the SKU's previous owner while SKUs move, or refused. The node's shell
/// (FlashSaleNode's `ClusterOperations`) carries out each `Step` and feeds back what came of it,
/// until the route answers; so every routing rule is here, and tested as lists of expectations.
///
/// The rules (Docs/ARCHITECTURE.md, "Routing" and "Handoff"):
/// - The owner under this node's membership runs the operation on its shard; while the owner is
///   gone, the node that adopted its shard does.
/// - Any other node forwards it to that node, spending one hop: an entry node forwards once, the
///   owner may forward once more if its membership is newer; with no hops left it refuses.
/// - While the SKU has a previous owner (membership is changing), the owner first runs the
///   operation without creating anything; a SKU (or reservation) its shard does not know yet is
///   asked of the previous owner, which answers while it still holds it, `moved` while it is in
///   transit, `unknownSKU` when it never had it; only then does a define create the SKU here.
/// - A shard that knows a newer membership (`staleMembership`) makes the node read it and route
///   once more.
public struct SaleRoute: Sendable {
    /// The shard a step runs on.
    public enum Shard: Sendable, Hashable {
        /// This node's own shard.
        case own
        /// The shard of `node`, which this node serves under the membership: its own, or one it adopted.
        case served(Membership.Node, in: Membership)
        /// The shard of `node`, which this node has adopted.
        case adopted(Membership.Node)
    }

    public enum Step: Sendable, Hashable {
        /// Run `operation` on `shard`; `mayCreate` false makes a define only update a SKU there.
        case run(SaleOperation, on: Shard, mayCreate: Bool)
        /// Forward `operation` to `node`, which may forward it `hopLimit` more times.
        case forward(SaleOperation, to: Membership.Node, hopLimit: UInt8, senderEpoch: Int64)
        /// Ask `node`, which serves the SKU's previous owner's shard, to run `operation` there if it still holds the SKU.
        case askPreviousOwner(SaleOperation, at: Membership.Node, senderEpoch: Int64)
        /// Read the membership until it is at least `epoch`, then call `caughtUp(_:)`.
        case catchUp(toEpoch: Int64)
        /// The operation's answer.
        case answer(SaleOutcome)
    }

    /// An entry node forwards once; the owner may forward once more if its membership is newer and
    /// names another owner. A third hop is refused: the nodes disagree and membership is changing.
    public static let hopLimit: UInt8 = 2

    private enum Phase {
        case start
        /// Waiting for the owner's shard (no previous owner).
        case owner(Membership)
        /// Waiting for the owner's shard, run without creating, before asking the previous owner.
        case ownerFirst(Membership, previous: Membership.Node)
        /// Waiting for the previous owner; `remote` when asked over the peer protocol.
        case previousOwner(Membership, local: SaleOutcome, remote: Bool)
        /// The previous owner said `moved`: waiting for this shard's read of the SKU (has it arrived?).
        case arrival(Membership, previous: SaleOutcome)
        case forwarded
        case catchingUp
        case answered
    }

    public let operation: SaleOperation
    private let nodeID: String
    private var hopLimit: UInt8
    private var mayCatchUp = true
    private var phase = Phase.start

    public init(_ operation: SaleOperation, nodeID: String, hopLimit: UInt8 = SaleRoute.hopLimit) {
        self.operation = operation
        self.nodeID = nodeID
        self.hopLimit = hopLimit
    }

    /// The first step, under this node's membership (nil until it has joined).
    public mutating func start(_ membership: Membership?) -> Step {
        guard let membership else {
            return self.answer(.failure(.unavailable("this node has not joined the cluster yet; retry")))
        }
        guard let owner = membership.owner(of: self.operation.sku) else {
            return self.answer(.failure(.unavailable("no node owns SKUs at membership epoch \(membership.epoch); retry")))
        }
        let server = membership.server(of: owner)
        if server.id == self.nodeID {
            let shard = Shard.served(owner, in: membership)
            guard let previous = membership.previousOwner(of: self.operation.sku) else {
                self.phase = .owner(membership)
                return .run(self.operation, on: shard, mayCreate: true)
            }
            self.phase = .ownerFirst(membership, previous: previous)
            return .run(self.operation, on: shard, mayCreate: false)
        }
        guard self.hopLimit > 0 else {
            return self.answer(.failure(.unavailable("the nodes disagree on who owns this SKU while membership changes; retry")))
        }
        self.phase = .forwarded
        return .forward(self.operation, to: server, hopLimit: self.hopLimit - 1, senderEpoch: membership.epoch)
    }

    /// What came of the last `run`, `forward` or `askPreviousOwner` step.
    public mutating func finished(_ outcome: SaleOutcome) -> Step {
        switch self.phase {
        case .owner:
            return self.ownerAnswer(outcome)
        case .ownerFirst(let membership, let previous):
            switch outcome {
            case .failure(.unknownSKU), .failure(.unknownReservation): break
            default: return self.ownerAnswer(outcome)
            }
            let server = membership.server(of: previous)
            self.phase = .previousOwner(membership, local: outcome, remote: server.id != self.nodeID)
            guard server.id != self.nodeID else {
                // This node serves the previous owner's shard too (its own, or one it adopted).
                return .run(self.operation, on: .served(previous, in: membership), mayCreate: false)
            }
            return .askPreviousOwner(self.operation, at: server, senderEpoch: membership.epoch)
        case .previousOwner(let membership, let local, let remote):
            var previous = outcome
            // Its shard knows a newer membership than we asked under: the SKU's place may have changed again.
            if remote, case .failure(.staleMembership) = previous {
                previous = .failure(.unavailable("the membership is changing; retry"))
            }
            let shard = self.ownerShard(membership)
            switch (previous, self.operation) {
            case (.failure(.unknownSKU), .defineSKU):
                self.phase = .owner(membership)
                return .run(self.operation, on: shard, mayCreate: true)
            case (.failure(.moved), _):
                // The SKU left the previous owner; it may have arrived here meanwhile, and then this
                // shard's answer stands (a reservation it does not know is unknown).
                guard case .failure(.unknownReservation) = local else { return self.ownerAnswer(previous) }
                self.phase = .arrival(membership, previous: previous)
                return .run(.skuState(sku: self.operation.sku), on: shard, mayCreate: false)
            default:
                return self.ownerAnswer(previous)
            }
        case .arrival(let membership, let previous):
            guard case .skuState = outcome else { return self.ownerAnswer(previous) }
            self.phase = .owner(membership)
            return .run(self.operation, on: self.ownerShard(membership), mayCreate: true)
        case .forwarded:
            return self.answer(outcome)
        case .start, .catchingUp, .answered:
            preconditionFailure("SaleRoute.finished in phase \(self.phase)")
        }
    }

    /// The membership has been read after a `catchUp` step: route once more.
    public mutating func caughtUp(_ membership: Membership?) -> Step {
        guard case .catchingUp = self.phase else { preconditionFailure("SaleRoute.caughtUp in phase \(self.phase)") }
        self.phase = .start
        return self.start(membership)
    }

    /// The step a node takes when asked, as the SKU's previous owner, to run the operation on the
    /// SKU if its shard still holds it: never forwarded, and a define only updates. Asked as the
    /// adopter of a gone previous owner's shard, it runs on that shard.
    public static func asPreviousOwner(_ operation: SaleOperation, nodeID: String, membership: Membership?) -> Step {
        if let membership, let previous = membership.previousOwner(of: operation.sku), previous.id != nodeID,
            previous.adoptedBy == nodeID
        {
            return .run(operation, on: .adopted(previous), mayCreate: false)
        }
        return .run(operation, on: .own, mayCreate: false)
    }

    private func ownerShard(_ membership: Membership) -> Shard {
        // start() found an owner under this membership, and the membership does not change.
        .served(membership.owner(of: self.operation.sku)!, in: membership)
    }

    /// The owner's answer, unless its shard knows a newer membership: then read it and route again, once.
    private mutating func ownerAnswer(_ outcome: SaleOutcome) -> Step {
        if case .failure(.staleMembership(let epoch)) = outcome, self.mayCatchUp {
            self.mayCatchUp = false
            self.phase = .catchingUp
            return .catchUp(toEpoch: epoch)
        }
        return self.answer(outcome)
    }

    private mutating func answer(_ outcome: SaleOutcome) -> Step {
        self.phase = .answered
        return .answer(outcome)
    }
}
