/// The life of one peer connection, without I/O: the handshake, the identity check against the
/// TLS certificate, liveness by ping, and what to do with each message. The connection's I/O
/// shell feeds it every message and a tick now and then, and carries out the actions it returns.
public struct PeerSession: Sendable {
    public enum Role: Sendable, Hashable {
        /// We dialled, expecting to reach `expectedPeer`.
        case initiator(expectedPeer: String)
        /// The peer dialled us.
        case acceptor
    }

    public struct Timing: Sendable, Hashable {
        /// How long the peer has to say hello after the TLS handshake.
        public var helloTimeout: Duration
        /// How often an idle established connection sends a ping.
        public var pingInterval: Duration
        /// A peer silent for this long (no message at all, pongs included) is dead.
        public var silenceLimit: Duration

        public init(helloTimeout: Duration = .seconds(5), pingInterval: Duration = .seconds(1), silenceLimit: Duration = .seconds(3)) {
            self.helloTimeout = helloTimeout
            self.pingInterval = pingInterval
            self.silenceLimit = silenceLimit
        }
    }

    public enum CloseReason: Sendable, Hashable, CustomStringConvertible {
        case helloExpected
        case helloTimeout
        /// The hello names a node other than the one the TLS certificate names.
        case identityMismatch(claimed: String, certified: String?)
        /// We dialled one node and another answered.
        case unexpectedPeer(expected: String, answered: String)
        case noCommonVersion(minimum: UInt8, maximum: UInt8)
        case secondHello
        case peerSilent
        case peerWentAway(String)
        case malformedFrame(PeerFrameError)

        public var description: String {
            switch self {
            case .helloExpected: "the first message was not hello"
            case .helloTimeout: "no hello in time"
            case .identityMismatch(let claimed, let certified):
                "the peer claims to be \(claimed) but its certificate names \(certified ?? "no node")"
            case .unexpectedPeer(let expected, let answered): "dialled \(expected) but \(answered) answered"
            case .noCommonVersion(let minimum, let maximum):
                "the peer speaks versions \(minimum)...\(maximum), we speak \(PeerSession.versions)"
            case .secondHello: "a second hello"
            case .peerSilent: "the peer went silent"
            case .peerWentAway(let reason): "the peer went away: \(reason)"
            case .malformedFrame(let error): "a malformed frame: \(error)"
            }
        }
    }

    public enum Action: Sendable, Hashable {
        case none
        case send(PeerMessage)
        /// The handshake finished: the peer is `peer`, which knows membership `epoch`. `reply` is
        /// our hello when we are the acceptor.
        case established(peer: String, epoch: Int64, reply: PeerMessage?)
        case serveRequest(stream: UInt32, PeerRequest)
        case completeRequest(stream: UInt32, PeerResponse)
        case observeEpoch(Int64)
        /// Close the connection; send `goAway` first when it is non-nil.
        case close(CloseReason, goAway: PeerMessage?)
    }

    public static let versions: ClosedRange<UInt8> = 1...1

    public let role: Role
    public let localNodeID: String
    public let timing: Timing
    private(set) public var state: State
    private var lastHeard: ContinuousClock.Instant
    private var lastPingSent: ContinuousClock.Instant
    private var nextNonce: UInt64 = 1

    public enum State: Sendable, Hashable {
        case awaitingHello(since: ContinuousClock.Instant)
        case established(peer: String, version: UInt8)
        case closed
    }

    public init(role: Role, localNodeID: String, timing: Timing = .init(), now: ContinuousClock.Instant) {
        self.role = role
        self.localNodeID = localNodeID
        self.timing = timing
        self.state = .awaitingHello(since: now)
        self.lastHeard = now
        self.lastPingSent = now
    }

    /// The initiator's first message; the acceptor answers hello with hello (`established.reply`).
    public func hello(epoch: Int64) -> PeerMessage {
        .hello(.init(nodeID: self.localNodeID, epoch: epoch, minimumVersion: Self.versions.lowerBound, maximumVersion: Self.versions.upperBound))
    }

    /// A message arrived. `certifiedNodeID` is the node id the peer's TLS certificate names.
    public mutating func receive(
        _ message: PeerMessage,
        certifiedNodeID: String?,
        localEpoch: Int64,
        now: ContinuousClock.Instant
    ) -> Action {
        self.lastHeard = now
        switch self.state {
        case .closed:
            return .none
        case .awaitingHello:
            guard case .hello(let hello) = message else { return self.close(.helloExpected) }
            guard hello.nodeID == certifiedNodeID else {
                return self.close(.identityMismatch(claimed: hello.nodeID, certified: certifiedNodeID))
            }
            if case .initiator(let expected) = self.role, expected != hello.nodeID {
                return self.close(.unexpectedPeer(expected: expected, answered: hello.nodeID))
            }
            // The highest version both speak. (Bounds compared before a range is formed: a peer may send any bytes.)
            let lowest = max(hello.minimumVersion, Self.versions.lowerBound)
            let highest = min(hello.maximumVersion, Self.versions.upperBound)
            guard lowest <= highest else {
                return self.close(.noCommonVersion(minimum: hello.minimumVersion, maximum: hello.maximumVersion))
            }
            self.state = .established(peer: hello.nodeID, version: highest)
            let reply = self.role == .acceptor ? self.hello(epoch: localEpoch) : nil
            return .established(peer: hello.nodeID, epoch: hello.epoch, reply: reply)
        case .established:
            switch message {
            case .hello: return self.close(.secondHello)
            case .forwardRequest(let stream, let request): return .serveRequest(stream: stream, .forward(request))
            case .previousOwnerRequest(let stream, let request): return .serveRequest(stream: stream, .previousOwner(request))
            case .handoffRequest(let stream, let chunk): return .serveRequest(stream: stream, .handoff(chunk))
            case .forwardResponse(let stream, let response): return .completeRequest(stream: stream, .forward(response))
            case .handoffResponse(let stream, let answer): return .completeRequest(stream: stream, .handoff(answer))
            case .epochChanged(let epoch): return .observeEpoch(epoch)
            case .ping(let nonce): return .send(.pong(nonce: nonce))
            case .pong: return .none
            case .goAway(let reason):
                self.state = .closed
                return .close(.peerWentAway(reason), goAway: nil)
            }
        }
    }

    /// The bytes could not be decoded; nothing after them on this connection can be trusted.
    public mutating func receiveMalformed(_ error: PeerFrameError) -> Action {
        self.close(.malformedFrame(error))
    }

    /// Called every so often (well under `pingInterval`): pings an idle peer, gives up on a silent one.
    public mutating func tick(now: ContinuousClock.Instant) -> Action {
        switch self.state {
        case .closed:
            return .none
        case .awaitingHello(let since):
            return now - since >= self.timing.helloTimeout ? self.close(.helloTimeout) : .none
        case .established:
            if now - self.lastHeard >= self.timing.silenceLimit {
                self.state = .closed
                return .close(.peerSilent, goAway: nil)
            }
            guard now - self.lastPingSent >= self.timing.pingInterval else { return .none }
            self.lastPingSent = now
            defer { self.nextNonce &+= 1 }
            return .send(.ping(nonce: self.nextNonce))
        }
    }

    public var isEstablished: Bool {
        if case .established = self.state { true } else { false }
    }

    private mutating func close(_ reason: CloseReason) -> Action {
        self.state = .closed
        return .close(reason, goAway: .goAway(reason: reason.description))
    }
}
