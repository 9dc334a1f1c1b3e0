public import FlashSaleCore

/// Everything two coordinators say to each other. Docs/PROTOCOL.md gives each message's bytes.
public enum PeerMessage: Sendable, Hashable {
    /// The first message on a connection, from both sides: who I am, the newest membership epoch I
    /// know, and the protocol versions I speak.
    case hello(Hello)
    /// Run a sale operation for a SKU the sender believes the receiver owns.
    case forwardRequest(stream: UInt32, ForwardRequest)
    /// The answer to the forward or previous-owner request with the same stream id on this connection.
    case forwardResponse(stream: UInt32, ForwardResponse)
    /// While SKUs move, the SKU's new owner asks its previous owner to run an operation on the SKU
    /// if it still holds it there (never forwarded further; a define only updates). Answered by
    /// `forwardResponse`.
    case previousOwnerRequest(stream: UInt32, ForwardRequest)
    /// Part of a frozen SKU's snapshot, from its previous owner to its new owner.
    case handoffRequest(stream: UInt32, HandoffChunk)
    /// The answer to the handoff request with the same stream id on this connection.
    case handoffResponse(stream: UInt32, HandoffAnswer)
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

/// What one node asks another and waits for: each kind of request, with its stream id on the wire.
public enum PeerRequest: Sendable, Hashable {
    case forward(ForwardRequest)
    case previousOwner(ForwardRequest)
    case handoff(HandoffChunk)

    public func message(stream: UInt32) -> PeerMessage {
        switch self {
        case .forward(let request): .forwardRequest(stream: stream, request)
        case .previousOwner(let request): .previousOwnerRequest(stream: stream, request)
        case .handoff(let chunk): .handoffRequest(stream: stream, chunk)
        }
    }
}

/// The answer to a `PeerRequest`.
public enum PeerResponse: Sendable, Hashable {
    case forward(ForwardResponse)
    case handoff(HandoffAnswer)

    public func message(stream: UInt32) -> PeerMessage {
        switch self {
        case .forward(let response): .forwardResponse(stream: stream, response)
        case .handoff(let answer): .handoffResponse(stream: stream, answer)
        }
    }

    public var responderEpoch: Int64 {
        switch self {
        case .forward(let response): response.responderEpoch
        case .handoff(let answer): answer.responderEpoch
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
    /// The client request's id (`RequestTrace`), empty when there is none: the owner's log lines
    /// about it carry the same id as the entry node's.
    public var traceId: String

    public init(hopLimit: UInt8, senderEpoch: Int64, operation: SaleOperation, traceId: String = "") {
        self.hopLimit = hopLimit
        self.senderEpoch = senderEpoch
        self.operation = operation
        self.traceId = traceId
    }
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

/// One part of a frozen SKU's snapshot. Every part repeats the SKU's counters; the reservations are
/// split over the parts so that no frame exceeds the frame limit (`HandoffChunk.split`).
public struct HandoffChunk: Sendable, Hashable {
    /// The sender's membership epoch: the receiver reads the membership first if it is newer.
    public var senderEpoch: Int64
    public var state: SKUState
    public var version: Int64
    /// `SKUSnapshot.transfers`, repeated in every part (a few bytes per bucket of the SKU).
    public var transfers: String
    /// Reservations in the whole snapshot.
    public var reservationCount: UInt32
    /// The position of `reservations[0]` in the snapshot's reservations.
    public var firstIndex: UInt32
    public var reservations: [SKUSnapshot.Entry]

    public init(
        senderEpoch: Int64,
        state: SKUState,
        version: Int64,
        transfers: String = "",
        reservationCount: UInt32,
        firstIndex: UInt32,
        reservations: [SKUSnapshot.Entry]
    ) {
        self.senderEpoch = senderEpoch
        self.state = state
        self.version = version
        self.transfers = transfers
        self.reservationCount = reservationCount
        self.firstIndex = firstIndex
        self.reservations = reservations
    }

    /// The bytes reservations may take in one chunk: what is left of a frame after the counters
    /// (a SKU name of at most 4 KiB and a few integers) with room to spare.
    public static let reservationBytesMaximum = 48 * 1024

    /// `snapshot` as chunks in order, each under the frame limit. A SKU without reservations is one chunk.
    public static func split(_ snapshot: SKUSnapshot, senderEpoch: Int64) -> [HandoffChunk] {
        var chunks: [HandoffChunk] = []
        var current: [SKUSnapshot.Entry] = []
        var bytes = 0
        var first = 0
        func close() {
            chunks.append(
                HandoffChunk(
                    senderEpoch: senderEpoch,
                    state: snapshot.state,
                    version: snapshot.version,
                    transfers: snapshot.transfers,
                    reservationCount: UInt32(snapshot.reservations.count),
                    firstIndex: UInt32(first),
                    reservations: current
                )
            )
        }
        for (index, entry) in snapshot.reservations.enumerated() {
            let size = Self.encodedSize(entry)
            if !current.isEmpty, bytes + size > Self.reservationBytesMaximum {
                close()
                current = []
                bytes = 0
                first = index
            }
            current.append(entry)
            bytes += size
        }
        close()
        return chunks
    }

    /// An entry's bytes on the wire (PeerFrameCodec): three strings with their lengths, four integers.
    static func encodedSize(_ entry: SKUSnapshot.Entry) -> Int {
        3 * 2 + entry.id.utf8.count + entry.user.utf8.count + entry.requestId.utf8.count + 1 + 3 * 8
    }
}

/// The new owner's answer to a handoff chunk.
public struct HandoffAnswer: Sendable, Hashable {
    public enum Outcome: Sendable, Hashable {
        /// Stored; the next chunk should start at reservation `next`.
        case continueFrom(next: UInt32)
        /// The whole snapshot is in the new owner's shard (now, or by an earlier identical handoff):
        /// the previous owner may drop its frozen copy.
        case imported
        /// Not taken (the receiver does not own the SKU under its membership, a chunk out of order,
        /// its shard refused); the sender tries the whole SKU again later.
        case refused(String)
    }

    public var responderEpoch: Int64
    public var outcome: Outcome

    public init(responderEpoch: Int64, outcome: Outcome) {
        self.responderEpoch = responderEpoch
        self.outcome = outcome
    }
}
