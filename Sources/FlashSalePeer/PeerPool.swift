public import FlashSaleCore
public import Logging
public import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// Outgoing peer connections: one per peer, multiplexing every request to it by stream id,
/// opened on first use and again after it breaks, with exponential backoff after failures.
public final class PeerPool: Sendable {
    public struct Settings: Sendable {
        public var requestTimeout: TimeAmount
        public var connectTimeout: TimeAmount
        public var session: PeerSession.Timing
        public var initialBackoff: Duration
        public var maximumBackoff: Duration
        /// Local IP address outgoing connections bind to; nil lets the system choose.
        public var sourceHost: String?

        public init(
            requestTimeout: TimeAmount = .seconds(5),
            connectTimeout: TimeAmount = .seconds(1),
            session: PeerSession.Timing = .init(helloTimeout: .seconds(2)),
            initialBackoff: Duration = .milliseconds(100),
            maximumBackoff: Duration = .seconds(2),
            sourceHost: String? = nil
        ) {
            self.requestTimeout = requestTimeout
            self.connectTimeout = connectTimeout
            self.session = session
            self.initialBackoff = initialBackoff
            self.maximumBackoff = maximumBackoff
            self.sourceHost = sourceHost
        }
    }

    private let tls: PeerTLS
    private let hooks: PeerNodeHooks
    private let settings: Settings
    private let group: any EventLoopGroup
    private let clock: any ServiceClock
    private let logger: Logger
    private let links = Mutex<[PeerEndpoint: PeerLink]>([:])

    public init(
        tls: PeerTLS,
        hooks: PeerNodeHooks,
        settings: Settings = .init(),
        clock: any ServiceClock = SystemClock(),
        logger: Logger
    ) {
        self.tls = tls
        self.hooks = hooks
        self.settings = settings
        self.clock = clock
        self.group = MultiThreadedEventLoopGroup.singleton
        self.logger = logger
    }

    /// Sends `request` to the SKU's owner `peer` and waits for its answer.
    public func forward(_ request: ForwardRequest, to peer: PeerEndpoint) async throws(PeerLinkError) -> ForwardResponse {
        guard case .forward(let response) = try await self.send(.forward(request), to: peer) else { throw .wrongAnswer }
        return response
    }

    /// Asks the SKU's previous owner `peer` to run `request` if the SKU is still in its shard.
    public func askPreviousOwner(_ request: ForwardRequest, at peer: PeerEndpoint) async throws(PeerLinkError) -> ForwardResponse {
        guard case .forward(let response) = try await self.send(.previousOwner(request), to: peer) else { throw .wrongAnswer }
        return response
    }

    /// Sends one chunk of a frozen SKU to its new owner `peer`.
    public func handOff(_ chunk: HandoffChunk, to peer: PeerEndpoint) async throws(PeerLinkError) -> HandoffAnswer {
        guard case .handoff(let answer) = try await self.send(.handoff(chunk), to: peer) else { throw .wrongAnswer }
        return answer
    }

    private func send(_ request: PeerRequest, to peer: PeerEndpoint) async throws(PeerLinkError) -> PeerResponse {
        let connection = try await self.link(peer).connection()
        do {
            return try await connection.channel.eventLoop.flatSubmit {
                connection.handler.value.send(request, timeout: self.settings.requestTimeout)
            }.get()
        } catch let error as PeerLinkError {
            throw error
        } catch {
            throw .connectionClosed
        }
    }

    /// Tells every peer in `peers` about a message (an epoch change); best effort, without waiting.
    public func notify(_ message: PeerMessage, peers: [PeerEndpoint]) {
        for peer in peers {
            let link = self.link(peer)
            Task {
                guard let connection = try? await link.connection() else { return }
                connection.channel.eventLoop.execute { connection.handler.value.notify(message) }
            }
        }
    }

    /// Closes every connection; later calls open new ones.
    public func closeAll() async {
        let links = self.links.withLock { links in
            defer { links = [:] }
            return Array(links.values)
        }
        for link in links { await link.close() }
    }

    private func link(_ peer: PeerEndpoint) -> PeerLink {
        self.links.withLock { links in
            if let link = links[peer] { return link }
            let link = PeerLink(
                peer: peer,
                tls: self.tls,
                hooks: self.hooks,
                settings: self.settings,
                eventLoop: self.group.next(),
                clock: self.clock,
                logger: self.logger
            )
            links[peer] = link
            return link
        }
    }
}

/// A peer's node id and where it listens.
public struct PeerEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var nodeID: String
    public var host: String
    public var port: Int

    public init(nodeID: String, host: String, port: Int) {
        self.nodeID = nodeID
        self.host = host
        self.port = port
    }

    /// `host:port`, as peer addresses are written in the membership.
    public init?(nodeID: String, address: String) {
        guard let colon = address.lastIndex(of: ":"), colon > address.startIndex,
            let port = Int(address[address.index(after: colon)...]), (1...65535).contains(port)
        else { return nil }
        self.init(nodeID: nodeID, host: String(address[..<colon]), port: port)
    }

    public var description: String { "\(self.nodeID)@\(self.host):\(self.port)" }
}

/// The connection to one peer: at most one at a time, shared by every caller.
final class PeerLink: Sendable {
    struct Connection: Sendable, Equatable {
        let channel: any Channel
        let handler: NIOLoopBound<PeerChannelHandler>

        static func == (left: Connection, right: Connection) -> Bool { left.channel === right.channel }
    }

    private let peer: PeerEndpoint
    private let tls: PeerTLS
    private let hooks: PeerNodeHooks
    private let settings: PeerPool.Settings
    private let eventLoop: any EventLoop
    private let clock: any ServiceClock
    private let logger: Logger
    private let state: Mutex<PeerLinkState<Connection, EventLoopFuture<Connection>>>

    init(
        peer: PeerEndpoint,
        tls: PeerTLS,
        hooks: PeerNodeHooks,
        settings: PeerPool.Settings,
        eventLoop: any EventLoop,
        clock: any ServiceClock,
        logger: Logger
    ) {
        self.peer = peer
        self.tls = tls
        self.hooks = hooks
        self.settings = settings
        self.eventLoop = eventLoop
        self.clock = clock
        self.logger = logger
        self.state = Mutex(PeerLinkState(initialBackoff: settings.initialBackoff, maximumBackoff: settings.maximumBackoff))
    }

    func connection() async throws(PeerLinkError) -> Connection {
        let future: EventLoopFuture<Connection> = try self.state.withLock { (state) throws(PeerLinkError) in
            switch state.connectionWanted(now: self.clock.now) {
            case .use(let connection):
                return self.eventLoop.makeSucceededFuture(connection)
            case .wait(for: let future):
                return future
            case .backingOff:
                throw .backingOff
            case .connect:
                let future = self.connect()
                state.attemptStarted(future)
                return future
            }
        }
        do {
            return try await future.get()
        } catch let error as PeerLinkError {
            throw error
        } catch {
            throw .unreachable("\(error)")
        }
    }

    func close() async {
        let connection = self.state.withLock { $0.connection }
        try? await connection?.channel.close()
    }

    private func connect() -> EventLoopFuture<Connection> {
        let session = PeerSession(
            role: .initiator(expectedPeer: self.peer.nodeID),
            localNodeID: self.tls.nodeID,
            timing: self.settings.session,
            now: self.clock.now
        )
        let established = self.eventLoop.makePromise(of: String.self)
        let (tls, hooks, clock, logger) = (self.tls, self.hooks, self.clock, self.logger)
        var bootstrap = ClientBootstrap(group: self.eventLoop)
        if let sourceHost = self.settings.sourceHost, let source = try? SocketAddress(ipAddress: sourceHost, port: 0) {
            bootstrap = bootstrap.bind(to: source)
        }
        let future = bootstrap
            .connectTimeout(self.settings.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        try NIOSSLClientHandler(context: tls.clientContext, serverHostname: nil),
                        ByteToMessageHandler(PeerFrameDecoder()),
                        MessageToByteHandler(PeerFrameEncoder()),
                        PeerChannelHandler(session: session, hooks: hooks, established: established, clock: clock, logger: logger),
                    ])
                }
            }
            .connect(host: self.peer.host, port: self.peer.port)
            .flatMap { channel in
                established.futureResult.flatMapThrowing { _ -> Connection in
                    let handler = try channel.pipeline.syncOperations.handler(type: PeerChannelHandler.self)
                    return Connection(channel: channel, handler: NIOLoopBound(handler, eventLoop: channel.eventLoop))
                }.flatMapErrorThrowing { error -> Connection in
                    channel.close(promise: nil)
                    throw error
                }
            }
        future.whenComplete { result in
            switch result {
            case .success(let connection):
                self.state.withLock { $0.attemptSucceeded(connection) }
                connection.channel.closeFuture.whenComplete { _ in self.state.withLock { $0.closed(connection) } }
            case .failure(let error):
                established.fail(error)
                self.logger.warning("cannot reach peer", metadata: ["peer": "\(self.peer)", "error": "\(error)"])
                self.state.withLock { $0.attemptFailed(now: self.clock.now) }
            }
        }
        return future
    }
}
