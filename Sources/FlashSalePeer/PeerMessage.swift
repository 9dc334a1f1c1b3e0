public import FlashSaleCore

/// Everything two coordinators say to each other. Docs/PROTOCOL.md gives each message's bytes.
public enum PeerMessage: Sendable, Hashable {
    /// The first message on a connection, from both sides: who I am, the newest membership epoch I
    /// know, and the protocol versions I speak.
    case hello(Hello)
    /// Run a sale operation for a SKU the sender believes the receiver owns.
    case forwardRequest(stream: UInt32, ForwardRequest)
    /// The answer to the forward request with the same stream id on this connection.
    case forwardResponse(stream: UInt32, ForwardResponse)
    /// The membership changed: read it again if `epoch` is newer than yours.
    case epochChanged(epoch: Int64)
    case ping(nonce: UInt64)
    case pong(nonce: UInt64)
    /// The sender closes the connection after this; `reason` is for the receiver's log.
    case goAway(reason: String)

    public struct Hello: Sendable, Hashable {
        public var nodeID: String
        public var epoch: Int64
        public var minimumVersion: UInt8
        public var maximumVersion: UInt8

        public init(nodeID: String, epoch: Int64, minimumVersion: UInt8, maximumVersion: UInt8) {
            self.nodeID = nodeID
            self.epoch = epoch
            self.minimumVersion = minimumVersion
            self.maximumVersion = maximumVersion
        }
    }
}

/// A sale operation carried to the SKU's owner.
public struct ForwardRequest: Sendable, Hashable {
    /// How many more times the request may be forwarded. Two nodes that disagree on who owns a
    /// SKU would otherwise pass it back and forth for ever.
    public var hopLimit: UInt8
    /// The sender's membership epoch: a receiver that knows an older one reads the membership again.
    public var senderEpoch: Int64
    public var operation: SaleOperation

    public init(hopLimit: UInt8, senderEpoch: Int64, operation: SaleOperation) {
        self.hopLimit = hopLimit
        self.senderEpoch = senderEpoch
        self.operation = operation
    }
}

/// The calls of `SaleOperations` as values.
public enum SaleOperation: Sendable, Hashable {
    case defineSKU(sku: String, settings: SKUSettings)
    case skuState(sku: String)
    case reserve(sku: String, user: String, quantity: Int64, requestId: String)
    case reservation(sku: String, id: String)
    case commit(sku: String, id: String)
    case release(sku: String, id: String)

    public var sku: String {
        switch self {
        case .defineSKU(let sku, _), .skuState(let sku), .reserve(let sku, _, _, _), .reservation(let sku, _),
            .commit(let sku, _), .release(let sku, _):
            sku
        }
    }

    /// Runs the operation against `operations`, as the owner does with a forwarded request.
    public func run(on operations: any SaleOperations) async -> SaleOutcome {
        do {
            switch self {
            case .defineSKU(let sku, let settings):
                return .skuDefinition(try await operations.defineSKU(sku, settings: settings))
            case .skuState(let sku):
                return .skuState(try await operations.skuState(sku))
            case .reserve(let sku, let user, let quantity, let requestId):
                return .receipt(try await operations.reserve(sku: sku, user: user, quantity: quantity, requestId: requestId))
            case .reservation(let sku, let id):
                return .reservation(try await operations.reservation(sku: sku, id: id))
            case .commit(let sku, let id):
                return .reservation(try await operations.commit(sku: sku, id: id))
            case .release(let sku, let id):
                return .reservation(try await operations.release(sku: sku, id: id))
            }
        } catch let error as SaleError {
            return .failure(error)
        } catch {
            return .failure(.unavailable("\(error)"))
        }
    }
}

/// What a sale operation answered, success or refusal, as a value that crosses the peer link.
public enum SaleOutcome: Sendable, Hashable {
    case skuDefinition(SKUDefinition)
    case skuState(SKUState)
    case receipt(ReservationReceipt)
    case reservation(Reservation)
    case failure(SaleError)
}

public struct ForwardResponse: Sendable, Hashable {
    /// The owner's membership epoch when it answered.
    public var responderEpoch: Int64
    public var outcome: SaleOutcome

    public init(responderEpoch: Int64, outcome: SaleOutcome) {
        self.responderEpoch = responderEpoch
        self.outcome = outcome
    }
}
