import FlashSaleCore
import FlashSaleMembership
import FlashSalePeer
import Logging
import ServiceLifecycle

/// What this node's services tell each other, as one bounded stream that `NodeEventLoop` drains:
/// the peer links are built before the services that answer their requests, the rebalancer before
/// the membership it reports to, so each says what happened here instead of holding the other.
final class NodeEvents: Sendable {
    enum Event: Sendable {
        /// A peer knows membership `epoch` (in its hello, a response, or an `epochChanged`).
        case epochObserved(Int64)
        /// This node's handoffs are done: the membership reports it at once.
        case handoffDone
        /// A peer's request, answered through `reply`.
        case peerRequest(PeerRequest, reply: CheckedContinuation<PeerResponse, Never>)
    }

    /// Peer requests in flight are bounded per connection (`PeerChannelHandler.maximumServed`);
    /// this bounds what waits for the loop across all of them.
    static let capacity = 16_384

    let stream: AsyncStream<Event>
    private let continuation: AsyncStream<Event>.Continuation
    private let currentEpoch: @Sendable () -> Int64

    init(currentEpoch: @escaping @Sendable () -> Int64) {
        (self.stream, self.continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingOldest(Self.capacity))
        self.currentEpoch = currentEpoch
    }

    func observe(epoch: Int64) {
        self.continuation.yield(.epochObserved(epoch))
    }

    func handoffDone() {
        self.continuation.yield(.handoffDone)
    }

    /// The answer to a peer's request, once the loop has served it; at once (retry) when the loop
    /// is full or has stopped.
    func serve(_ request: PeerRequest) async -> PeerResponse {
        await withCheckedContinuation { reply in
            switch self.continuation.yield(.peerRequest(request, reply: reply)) {
            case .enqueued: break
            case .dropped: reply.resume(returning: self.refusal(request, "the node has too many peer requests waiting; retry"))
            case .terminated: reply.resume(returning: self.refusal(request, "the node is shutting down; retry"))
            @unknown default: reply.resume(returning: self.refusal(request, "the node cannot serve this now; retry"))
            }
        }
    }

    /// No more events: what is queued is still served.
    func finish() {
        self.continuation.finish()
    }

    private func refusal(_ request: PeerRequest, _ why: String) -> PeerResponse {
        switch request {
        case .forward, .previousOwner:
            .forward(ForwardResponse(responderEpoch: self.currentEpoch(), outcome: .failure(.unavailable(why))))
        case .handoff:
            .handoff(HandoffAnswer(responderEpoch: self.currentEpoch(), outcome: .refused(why)))
        }
    }
}

/// Drains `NodeEvents`: hands epochs and finished handoffs to the membership and serves each
/// peer request in a task of its own. On shutdown it serves what is queued, then stops.
struct NodeEventLoop: Service {
    let events: NodeEvents
    let membership: MembershipService?
    let serve: @Sendable (PeerRequest) async -> PeerResponse

    func run() async throws {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for await event in self.events.stream {
                    switch event {
                    case .epochObserved(let epoch):
                        self.membership?.observe(epoch: epoch)
                    case .handoffDone:
                        self.membership?.reportHandoffSoon()
                    case .peerRequest(let request, let reply):
                        group.addTask { reply.resume(returning: await self.serve(request)) }
                    }
                }
            }
        } onGracefulShutdown: {
            self.events.finish()
        }
    }
}
