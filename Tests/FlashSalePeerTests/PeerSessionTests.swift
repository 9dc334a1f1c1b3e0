import FlashSaleCore
import Testing

@testable import FlashSalePeer

struct PeerSessionTests {
    let start = ContinuousClock.now

    func hello(_ id: String, epoch: Int64 = 4, versions: ClosedRange<UInt8> = 1...1) -> PeerMessage {
        .hello(.init(nodeID: id, epoch: epoch, minimumVersion: versions.lowerBound, maximumVersion: versions.upperBound))
    }

    func established(_ role: PeerSession.Role = .acceptor) -> PeerSession {
        var session = PeerSession(role: role, localNodeID: "n1", now: self.start)
        let peer = if case .initiator(let expected) = role { expected } else { "n2" }
        _ = session.receive(self.hello(peer), certifiedNodeID: peer, localEpoch: 9, now: self.start)
        return session
    }

    @Test func theAcceptorAnswersAHelloWhoseIDMatchesTheCertificate() {
        var session = PeerSession(role: .acceptor, localNodeID: "n1", now: self.start)
        let action = session.receive(self.hello("n2", versions: 1...4), certifiedNodeID: "n2", localEpoch: 9, now: self.start)
        #expect(action == .established(peer: "n2", epoch: 4, reply: self.hello("n1", epoch: 9)))
        #expect(session.state == .established(peer: "n2", version: 1))
    }

    @Test func theInitiatorChecksThatTheNodeItDialledAnswered() {
        var right = PeerSession(role: .initiator(expectedPeer: "n2"), localNodeID: "n1", now: self.start)
        #expect(right.receive(self.hello("n2"), certifiedNodeID: "n2", localEpoch: 1, now: self.start)
            == .established(peer: "n2", epoch: 4, reply: nil))

        var wrong = PeerSession(role: .initiator(expectedPeer: "n2"), localNodeID: "n1", now: self.start)
        guard case .close(.unexpectedPeer("n2", "n3"), .some(.goAway)) =
            wrong.receive(self.hello("n3"), certifiedNodeID: "n3", localEpoch: 1, now: self.start)
        else {
            Issue.record("a node other than the one dialled was accepted")
            return
        }
        #expect(wrong.state == .closed)
    }

    @Test func aHelloClaimingAnotherNodesIDIsRefused() {
        for certified in ["n3", nil] as [String?] {
            var session = PeerSession(role: .acceptor, localNodeID: "n1", now: self.start)
            let action = session.receive(self.hello("n2"), certifiedNodeID: certified, localEpoch: 1, now: self.start)
            guard case .close(.identityMismatch(claimed: "n2", certified: certified), _) = action else {
                Issue.record("accepted n2 with a certificate for \(certified ?? "nobody"): \(action)")
                continue
            }
            #expect(session.state == .closed)
        }
    }

    @Test func anythingBeforeHelloClosesTheConnection() {
        for first in [PeerMessage.ping(nonce: 1), .epochChanged(epoch: 2), .goAway(reason: "x"),
            .forwardRequest(stream: 1, .init(hopLimit: 1, senderEpoch: 1, operation: .skuState(sku: "a")))]
        {
            var session = PeerSession(role: .acceptor, localNodeID: "n1", now: self.start)
            guard case .close(.helloExpected, _) = session.receive(first, certifiedNodeID: "n2", localEpoch: 1, now: self.start) else {
                Issue.record("\(first) was accepted before hello")
                continue
            }
        }
    }

    @Test func aPeerWithNoCommonVersionIsRefused() {
        var session = PeerSession(role: .acceptor, localNodeID: "n1", now: self.start)
        let action = session.receive(self.hello("n2", versions: 2...5), certifiedNodeID: "n2", localEpoch: 1, now: self.start)
        guard case .close(.noCommonVersion(minimum: 2, maximum: 5), _) = action else {
            Issue.record("\(action)")
            return
        }
    }

    @Test func anEstablishedSessionRoutesEveryMessage() {
        var session = self.established()
        let request = ForwardRequest(hopLimit: 1, senderEpoch: 3, operation: .commit(sku: "a", id: "r"))
        let response = ForwardResponse(responderEpoch: 3, outcome: .failure(.soldOut))
        #expect(session.receive(.forwardRequest(stream: 7, request), certifiedNodeID: "n2", localEpoch: 1, now: self.start)
            == .serveRequest(stream: 7, .forward(request)))
        #expect(session.receive(.previousOwnerRequest(stream: 8, request), certifiedNodeID: "n2", localEpoch: 1, now: self.start)
            == .serveRequest(stream: 8, .previousOwner(request)))
        #expect(session.receive(.forwardResponse(stream: 7, response), certifiedNodeID: "n2", localEpoch: 1, now: self.start)
            == .completeRequest(stream: 7, .forward(response)))
        let answer = HandoffAnswer(responderEpoch: 3, outcome: .imported)
        #expect(session.receive(.handoffResponse(stream: 9, answer), certifiedNodeID: "n2", localEpoch: 1, now: self.start)
            == .completeRequest(stream: 9, .handoff(answer)))
        #expect(session.receive(.epochChanged(epoch: 12), certifiedNodeID: "n2", localEpoch: 1, now: self.start) == .observeEpoch(12))
        #expect(session.receive(.ping(nonce: 5), certifiedNodeID: "n2", localEpoch: 1, now: self.start) == .send(.pong(nonce: 5)))
        #expect(session.receive(.pong(nonce: 5), certifiedNodeID: "n2", localEpoch: 1, now: self.start) == PeerSession.Action.none)
        guard case .close(.secondHello, _) = session.receive(self.hello("n2"), certifiedNodeID: "n2", localEpoch: 1, now: self.start)
        else {
            Issue.record("a second hello was accepted")
            return
        }
    }

    @Test func goAwayClosesWithoutAnswering() {
        var session = self.established()
        #expect(session.receive(.goAway(reason: "draining"), certifiedNodeID: "n2", localEpoch: 1, now: self.start)
            == .close(.peerWentAway("draining"), goAway: nil))
        #expect(session.receive(.ping(nonce: 1), certifiedNodeID: "n2", localEpoch: 1, now: self.start) == PeerSession.Action.none)
    }

    @Test func anIdlePeerIsPingedAndASilentOneIsDropped() {
        var session = self.established()
        let timing = session.timing
        #expect(session.tick(now: self.start + .milliseconds(100)) == PeerSession.Action.none)
        #expect(session.tick(now: self.start + timing.pingInterval) == .send(.ping(nonce: 1)))
        #expect(session.tick(now: self.start + timing.pingInterval + .milliseconds(10)) == PeerSession.Action.none)
        #expect(session.tick(now: self.start + timing.pingInterval * 2) == .send(.ping(nonce: 2)))
        // A pong (any message) keeps it alive.
        _ = session.receive(.pong(nonce: 2), certifiedNodeID: "n2", localEpoch: 1, now: self.start + timing.pingInterval * 2)
        #expect(session.tick(now: self.start + timing.silenceLimit + .milliseconds(10)) != .close(.peerSilent, goAway: nil))
        #expect(session.tick(now: self.start + timing.pingInterval * 2 + timing.silenceLimit) == .close(.peerSilent, goAway: nil))
        #expect(session.state == .closed)
    }

    @Test func aPeerThatNeverSaysHelloTimesOut() {
        var session = PeerSession(role: .acceptor, localNodeID: "n1", now: self.start)
        #expect(session.tick(now: self.start + .seconds(1)) == PeerSession.Action.none)
        guard case .close(.helloTimeout, _) = session.tick(now: self.start + session.timing.helloTimeout) else {
            Issue.record("no hello timeout")
            return
        }
    }

    @Test func aMalformedFrameClosesTheSession() {
        var session = self.established()
        guard case .close(.malformedFrame(.unknownKind(9)), .some(.goAway)) = session.receiveMalformed(.unknownKind(9)) else {
            Issue.record("a malformed frame did not close the session")
            return
        }
        #expect(session.tick(now: self.start + .seconds(60)) == PeerSession.Action.none)
    }

    /// Random message sequences with random certificates: the session never establishes with a
    /// peer whose certificate names another node, and once closed it stays closed.
    @Test func randomSequencesKeepTheInvariants() {
        var random = SplitMix(seed: 42)
        let ids = ["n1", "n2", "n3"]
        for _ in 0..<2000 {
            let certified = ids[Int(random.next() % 3)]
            var session = PeerSession(role: random.next() % 2 == 0 ? .acceptor : .initiator(expectedPeer: "n2"), localNodeID: "n1", now: self.start)
            var closed = false
            var now = self.start
            for _ in 0..<8 {
                now += .milliseconds(Int64(random.next() % 1500))
                let message: PeerMessage =
                    switch random.next() % 5 {
                    case 0:
                        .hello(.init(nodeID: ids[Int(random.next() % 3)], epoch: 1,
                            minimumVersion: UInt8(random.next() % 3), maximumVersion: UInt8(random.next() % 3)))
                    case 1: .ping(nonce: random.next())
                    case 2: .epochChanged(epoch: Int64(random.next() % 10))
                    case 3: .goAway(reason: "r")
                    default: .pong(nonce: 1)
                    }
                let action = random.next() % 4 == 0 ? session.tick(now: now)
                    : session.receive(message, certifiedNodeID: certified, localEpoch: 1, now: now)
                if closed { #expect(action == PeerSession.Action.none) }
                if case .established(let peer, _, _) = action { #expect(peer == certified) }
                if case .close = action { closed = true }
            }
        }
    }
}
