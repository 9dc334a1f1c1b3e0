import Testing

@testable import FlashSalePeer

/// The peer link's lifecycle without sockets: one attempt shared by every caller, the backoff
/// after failures, and which closings count.
@Suite struct PeerLinkStateTests {
    typealias Link = PeerLinkState<Int, String>
    let start = ContinuousClock.now

    func link() -> Link { Link(initialBackoff: .milliseconds(100), maximumBackoff: .milliseconds(350)) }

    @Test func everyCallerSharesOneAttemptAndThenItsConnection() {
        var link = self.link()
        guard case .connect = link.connectionWanted(now: self.start) else { Issue.record("no attempt"); return }
        link.attemptStarted("attempt 1")
        guard case .wait(for: "attempt 1") = link.connectionWanted(now: self.start) else { Issue.record("a second attempt"); return }
        link.attemptSucceeded(7)
        guard case .use(7) = link.connectionWanted(now: self.start) else { Issue.record("the connection is not used"); return }
        #expect(link.connection == 7)
    }

    @Test func failedAttemptsBackOffDoublingUpToTheMaximum() {
        var link = self.link()
        var now = self.start
        var waits: [Duration] = []
        for attempt in 0..<5 {
            guard case .connect = link.connectionWanted(now: now) else { Issue.record("no attempt \(attempt)"); return }
            link.attemptStarted("attempt \(attempt)")
            link.attemptFailed(now: now)
            guard case .backingOff(let until) = link.connectionWanted(now: now) else { Issue.record("no backoff"); return }
            // A millisecond early is still too early; at the instant a new attempt may start.
            guard case .backingOff = link.connectionWanted(now: until - .milliseconds(1)) else { Issue.record("retried early"); return }
            waits.append(until - now)
            now = until
        }
        #expect(waits == [.milliseconds(100), .milliseconds(200), .milliseconds(350), .milliseconds(350), .milliseconds(350)])
    }

    @Test func aConnectionResetsTheBackoffAndItsClosingAllowsANewAttemptAtOnce() {
        var link = self.link()
        _ = link.connectionWanted(now: self.start)
        link.attemptStarted("1")
        link.attemptFailed(now: self.start)
        let later = self.start + .milliseconds(100)
        _ = link.connectionWanted(now: later)
        link.attemptStarted("2")
        link.attemptSucceeded(1)
        link.closed(1)
        guard case .connect = link.connectionWanted(now: later) else { Issue.record("waits after a closed connection"); return }
        link.attemptStarted("3")
        link.attemptFailed(now: later)
        guard case .backingOff(let until) = link.connectionWanted(now: later) else { Issue.record("no backoff"); return }
        #expect(until - later == .milliseconds(100), "the backoff starts again from the initial one")
    }

    @Test func theClosingOfAnOlderConnectionIsIgnored() {
        var link = self.link()
        _ = link.connectionWanted(now: self.start)
        link.attemptStarted("1")
        link.attemptSucceeded(2)
        link.closed(1)
        #expect(link.connection == 2)
    }
}
