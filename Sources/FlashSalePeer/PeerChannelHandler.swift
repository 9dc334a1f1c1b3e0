import FlashSaleCore
import Logging
import NIOCore
import NIOSSL

/// Frames on the wire, one `PeerMessage` each.
struct PeerFrameDecoder: NIOSingleStepByteToMessageDecoder {
    typealias InboundOut = PeerMessage

    mutating func decode(buffer: inout ByteBuffer) throws -> PeerMessage? {
        try PeerFrameCodec.decode(&buffer)
    }

    mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> PeerMessage? {
        try self.decode(buffer: &buffer)
    }
}

struct PeerFrameEncoder: MessageToByteEncoder {
    typealias OutboundIn = PeerMessage

    func encode(data: PeerMessage, out: inout ByteBuffer) {
        PeerFrameCodec.encode(data, into: &out)
    }
}

/// What a connection needs from the node: its epoch, how to serve a peer's request, and where
/// to report a newer epoch.
public struct PeerNodeHooks: Sendable {
    public var currentEpoch: @Sendable () -> Int64
    public var serve: @Sendable (PeerRequest) async -> PeerResponse
    public var observeEpoch: @Sendable (Int64) -> Void

    public init(
        currentEpoch: @escaping @Sendable () -> Int64,
        serve: @escaping @Sendable (PeerRequest) async -> PeerResponse,
        observeEpoch: @escaping @Sendable (Int64) -> Void
    ) {
        self.currentEpoch = currentEpoch
        self.serve = serve
        self.observeEpoch = observeEpoch
    }
}

/// The I/O shell of one peer connection, on its event loop: feeds `PeerSession` every message and
/// a tick, carries out its actions, matches responses to waiting requests by stream id, and
/// serves the peer's forwarded requests with at most `maximumServed` in flight.
final class PeerChannelHandler: ChannelInboundHandler {
    typealias InboundIn = PeerMessage
    typealias OutboundOut = PeerMessage

    static let maximumPending = 4096
    static let maximumServed = 4096
    static let tickInterval = TimeAmount.milliseconds(250)

    private var session: PeerSession
    private let hooks: PeerNodeHooks
    private let logger: Logger
    private var context: ChannelHandlerContext?
    private let clock: any ServiceClock
    private var ticker: RepeatedTask?
    private var pending: [UInt32: EventLoopPromise<PeerResponse>] = [:]
    private var nextStream: UInt32 = 1
    private var served = 0
    private var flushScheduled = false
    /// The node id the peer's certificate names, read once: parsing the certificate for every
    /// message cost more CPU than the rest of forwarding.
    private var certifiedNodeID: String?
    /// Completed with the peer's id when the handshake finishes; failed when the connection closes first.
    let established: EventLoopPromise<String>

    init(session: PeerSession, hooks: PeerNodeHooks, established: EventLoopPromise<String>, clock: any ServiceClock, logger: Logger) {
        self.session = session
        self.hooks = hooks
        self.established = established
        self.clock = clock
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        self.ticker = context.eventLoop.scheduleRepeatedTask(initialDelay: Self.tickInterval, delay: Self.tickInterval) { _ in
            let handler = loopBound.value
            handler.perform(handler.session.tick(now: handler.clock.now))
        }
        if case .initiator = self.session.role {
            // Written before the TLS handshake ends: NIOSSL holds it until then.
            context.writeAndFlush(self.wrapOutboundOut(self.session.hello(epoch: self.hooks.currentEpoch())), promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.ticker?.cancel()
        self.context = nil
        // A channel closed before it became active never sees channelInactive; the promise must
        // still be completed (completing it again is a no-op).
        self.established.fail(PeerLinkError.connectionClosed)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.ticker?.cancel()
        self.established.fail(PeerLinkError.connectionClosed)
        let pending = self.pending
        self.pending = [:]
        for promise in pending.values { promise.fail(PeerLinkError.connectionClosed) }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = self.unwrapInboundIn(data)
        if self.certifiedNodeID == nil { self.certifiedNodeID = Self.certifiedNodeID(context) }
        let received = self.session.receive(
            message,
            certifiedNodeID: self.certifiedNodeID,
            localEpoch: self.hooks.currentEpoch(),
            now: self.clock.now
        )
        self.perform(received)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let frameError = error as? PeerFrameError {
            self.perform(self.session.receiveMalformed(frameError))
        } else {
            // TLS failures (no certificate, another CA) and socket errors end the connection.
            self.logger.debug("peer connection error", metadata: ["error": "\(error)"])
            context.close(promise: nil)
        }
    }

    /// Sends a request on this connection; the future completes with the owner's answer.
    func send(_ request: PeerRequest, timeout: TimeAmount) -> EventLoopFuture<PeerResponse> {
        guard let context, self.session.isEstablished else {
            return self.established.futureResult.eventLoop.makeFailedFuture(PeerLinkError.connectionClosed)
        }
        guard self.pending.count < Self.maximumPending else {
            return context.eventLoop.makeFailedFuture(PeerLinkError.overloaded)
        }
        let stream = self.nextStream
        self.nextStream = self.nextStream == .max ? 1 : self.nextStream + 1
        let promise = context.eventLoop.makePromise(of: PeerResponse.self)
        self.pending[stream] = promise
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let timer = context.eventLoop.scheduleTask(in: timeout) {
            loopBound.value.pending.removeValue(forKey: stream)?.fail(PeerLinkError.timedOut)
        }
        promise.futureResult.whenComplete { _ in timer.cancel() }
        self.writeCoalesced(request.message(stream: stream), context: context)
        return promise.futureResult
    }

    func notify(_ message: PeerMessage) {
        guard let context, self.session.isEstablished else { return }
        context.writeAndFlush(self.wrapOutboundOut(message), promise: nil)
    }

    private func perform(_ action: PeerSession.Action) {
        guard let context else { return }
        switch action {
        case .none:
            break
        case .send(let message):
            context.writeAndFlush(self.wrapOutboundOut(message), promise: nil)
        case .established(let peer, let epoch, let reply):
            if let reply { context.writeAndFlush(self.wrapOutboundOut(reply), promise: nil) }
            self.logger.debug("peer connection established", metadata: ["peer": "\(peer)"])
            self.hooks.observeEpoch(epoch)
            self.established.succeed(peer)
        case .serveRequest(let stream, let request):
            self.serve(stream: stream, request, context: context)
        case .completeRequest(let stream, let response):
            // A response to a request that timed out meanwhile has nobody waiting: dropped.
            self.pending.removeValue(forKey: stream)?.succeed(response)
            self.hooks.observeEpoch(response.responderEpoch)
        case .observeEpoch(let epoch):
            self.hooks.observeEpoch(epoch)
        case .close(let reason, let goAway):
            self.logger.warning("closing a peer connection", metadata: ["reason": "\(reason)"])
            if let goAway {
                let channel = context.channel
                context.writeAndFlush(self.wrapOutboundOut(goAway)).whenComplete { _ in channel.close(promise: nil) }
            } else {
                context.close(promise: nil)
            }
        }
    }

    private func serve(stream: UInt32, _ request: PeerRequest, context: ChannelHandlerContext) {
        guard self.served < Self.maximumServed else {
            let (epoch, why) = (self.hooks.currentEpoch(), "the node has too many peer requests in flight; retry")
            let busy: PeerResponse =
                switch request {
                case .forward, .previousOwner: .forward(.init(responderEpoch: epoch, outcome: .failure(.unavailable(why))))
                case .handoff: .handoff(.init(responderEpoch: epoch, outcome: .refused(why)))
                }
            context.writeAndFlush(self.wrapOutboundOut(busy.message(stream: stream)), promise: nil)
            return
        }
        self.served += 1
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        let serve = self.hooks.serve
        Task {
            let response = await serve(request)
            eventLoop.execute {
                let handler = loopBound.value
                handler.served -= 1
                if let context = handler.context {
                    handler.writeCoalesced(response.message(stream: stream), context: context)
                }
            }
        }
    }

    /// Requests and responses written in the same event-loop turn leave in one flush (one TLS
    /// write, one syscall) instead of one each: under load, hundreds share a flush.
    private func writeCoalesced(_ message: PeerMessage, context: ChannelHandlerContext) {
        context.write(self.wrapOutboundOut(message), promise: nil)
        guard !self.flushScheduled else { return }
        self.flushScheduled = true
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let handler = loopBound.value
            handler.flushScheduled = false
            handler.context?.flush()
        }
    }

    /// The node id the peer's certificate names (its common name), once the TLS handshake is done.
    private static func certifiedNodeID(_ context: ChannelHandlerContext) -> String? {
        guard let certificate = try? context.pipeline.syncOperations.nioSSL_peerCertificate() else { return nil }
        return PeerTLS.nodeID(of: certificate)
    }
}

public enum PeerLinkError: Error, Sendable, Hashable, CustomStringConvertible {
    case connectionClosed
    case timedOut
    case overloaded
    case unreachable(String)
    /// Recent connection attempts failed; the next one is not before the backoff ends.
    case backingOff
    /// The peer answered a request with another request's kind of answer.
    case wrongAnswer

    public var description: String {
        switch self {
        case .connectionClosed: "the connection to the SKU's owner closed"
        case .timedOut: "the SKU's owner did not answer in time"
        case .overloaded: "too many requests are waiting for the SKU's owner"
        case .unreachable(let why): "the SKU's owner is unreachable: \(why)"
        case .backingOff: "the SKU's owner was unreachable a moment ago"
        case .wrongAnswer: "the peer answered with the wrong kind of message"
        }
    }
}
