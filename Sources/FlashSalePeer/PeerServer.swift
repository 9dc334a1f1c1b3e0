public import FlashSaleCore
public import Logging
import NIOCore
import NIOPosix
import NIOSSL
public import ServiceLifecycle
import Synchronization

/// Accepts peer connections on the node's peer address: mutual TLS, then the session's
/// handshake, then forwarded requests served through `hooks`.
public final class PeerServer: Service {
    private let host: String
    private let port: Int
    private let tls: PeerTLS
    private let hooks: PeerNodeHooks
    private let timing: PeerSession.Timing
    private let clock: any ServiceClock
    private let logger: Logger
    /// Open connections, closed when the server stops: a stopped node must look dead to its peers.
    private let connections = Mutex<[ObjectIdentifier: any Channel]>([:])

    public init(
        host: String,
        port: Int,
        tls: PeerTLS,
        hooks: PeerNodeHooks,
        timing: PeerSession.Timing = .init(),
        clock: any ServiceClock = SystemClock(),
        logger: Logger
    ) {
        self.clock = clock
        self.host = host
        self.port = port
        self.tls = tls
        self.hooks = hooks
        self.timing = timing
        self.logger = logger
    }

    public func run() async throws {
        let (tls, hooks, timing, clock, logger) = (self.tls, self.hooks, self.timing, self.clock, self.logger)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [self] channel in
                let key = ObjectIdentifier(channel)
                self.connections.withLock { $0[key] = channel }
                channel.closeFuture.whenComplete { _ in _ = self.connections.withLock { $0.removeValue(forKey: key) } }
                return channel.eventLoop.makeCompletedFuture {
                    let session = PeerSession(role: .acceptor, localNodeID: tls.nodeID, timing: timing, now: clock.now)
                    // Nothing waits for an accepted connection's handshake, but the promise must be
                    // completed on every path, also when the channel closed before its handlers went in.
                    let established = channel.eventLoop.makePromise(of: String.self)
                    do {
                        try channel.pipeline.syncOperations.addHandlers([
                            NIOSSLServerHandler(context: tls.serverContext),
                            ByteToMessageHandler(PeerFrameDecoder()),
                            MessageToByteHandler(PeerFrameEncoder()),
                            PeerChannelHandler(session: session, hooks: hooks, established: established, clock: clock, logger: logger),
                        ])
                    } catch {
                        established.fail(error)
                        throw error
                    }
                }
            }
            .bind(host: self.host, port: self.port)
            .get()
        self.logger.info("peer protocol listening", metadata: ["address": "\(self.host):\(self.port)"])
        try? await gracefulShutdown()
        try? await channel.close()
        for connection in self.connections.withLock({ Array($0.values) }) { try? await connection.close() }
    }
}
