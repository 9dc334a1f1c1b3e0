import FlashSaleHTTP
import Testing

/// Admission control without I/O: 2 places, 3 waiting, a 50 ms queue deadline.
@Suite struct AdmissionQueueTests {
    let start = ContinuousClock.now

    func queue(inFlightMax: Int = 2, waitingMax: Int = 3) -> AdmissionQueue {
        AdmissionQueue(settings: .init(inFlightMax: inFlightMax, waitingMax: waitingMax, queueDeadline: .milliseconds(50)))
    }

    @Test func requestsStartWhilePlacesAreFreeThenWaitThenAreShedWhenTheQueueIsFull() {
        var queue = self.queue()
        #expect(queue.arrive(id: 1, now: start) == .start)
        #expect(queue.arrive(id: 2, now: start) == .start)
        #expect(queue.arrive(id: 3, now: start) == .wait)
        #expect(queue.arrive(id: 4, now: start) == .wait)
        #expect(queue.arrive(id: 5, now: start) == .wait)
        #expect(queue.arrive(id: 6, now: start) == .shed)
        #expect(queue.inFlight == 2)
        #expect(queue.waiting == 3)
        #expect(queue.nextDeadline == start + .milliseconds(50))
    }

    @Test func aFinishedRequestsPlaceGoesToTheOldestWaiter() {
        var queue = self.queue()
        _ = queue.arrive(id: 1, now: start)
        _ = queue.arrive(id: 2, now: start)
        _ = queue.arrive(id: 3, now: start + .milliseconds(1))
        _ = queue.arrive(id: 4, now: start + .milliseconds(2))
        #expect(queue.finished(now: start + .milliseconds(10)) == [.start(id: 3)])
        #expect(queue.inFlight == 2)
        #expect(queue.nextDeadline == start + .milliseconds(52))
        #expect(queue.finished(now: start + .milliseconds(11)) == [.start(id: 4)])
        #expect(queue.finished(now: start + .milliseconds(12)) == [])
        #expect(queue.inFlight == 1)
        #expect(queue.nextDeadline == nil)
    }

    /// A newcomer never overtakes a waiter, even when a place is free at that instant.
    @Test func aNewcomerQueuesBehindWaiters() {
        var queue = self.queue(inFlightMax: 1)
        _ = queue.arrive(id: 1, now: start)
        _ = queue.arrive(id: 2, now: start)
        #expect(queue.arrive(id: 3, now: start) == .wait)
        #expect(queue.finished(now: start) == [.start(id: 2)])
    }

    @Test func waitersPastTheDeadlineAreShedByTheTimerOldestFirst() {
        var queue = self.queue()
        _ = queue.arrive(id: 1, now: start)
        _ = queue.arrive(id: 2, now: start)
        _ = queue.arrive(id: 3, now: start)
        _ = queue.arrive(id: 4, now: start + .milliseconds(30))
        #expect(queue.expire(now: start + .milliseconds(49)) == [])
        #expect(queue.expire(now: start + .milliseconds(50)) == [.shed(id: 3)])
        #expect(queue.nextDeadline == start + .milliseconds(80))
        #expect(queue.expire(now: start + .milliseconds(80)) == [.shed(id: 4)])
        #expect(queue.waiting == 0)
        #expect(queue.inFlight == 2, "shedding a waiter frees no place: it never held one")
    }

    /// When a place frees up late, waiters already past their deadline are shed on the way to the
    /// first one still in time.
    @Test func aFreedPlaceSkipsWaitersWhoseTimeIsUp() {
        var queue = self.queue(inFlightMax: 1)
        _ = queue.arrive(id: 1, now: start)
        _ = queue.arrive(id: 2, now: start)
        _ = queue.arrive(id: 3, now: start + .milliseconds(40))
        #expect(queue.finished(now: start + .milliseconds(60)) == [.shed(id: 2), .start(id: 3)])
        #expect(queue.inFlight == 1)
    }

    /// Bounded work: however many arrive, at most inFlightMax run and waitingMax wait, and every
    /// waiter gets exactly one verdict.
    @Test func randomTrafficKeepsTheBoundsAndAnswersEveryWaiterOnce() {
        var queue = self.queue(inFlightMax: 4, waitingMax: 8)
        var random = SystemRandomNumberGenerator()
        var now = start
        var running = 0
        var waiting = Set<UInt64>()
        for id in UInt64(1)...5_000 {
            now += .microseconds(Int64.random(in: 0...20_000, using: &random))
            switch queue.arrive(id: id, now: now) {
            case .start: running += 1
            case .wait: waiting.insert(id)
            case .shed: #expect(queue.waiting == 8, "shed on arrival only when the queue is full")
            }
            var verdicts = queue.expire(now: now)
            if running > 0 && Bool.random(using: &random) {
                running -= 1
                verdicts += queue.finished(now: now)
            }
            for verdict in verdicts {
                switch verdict {
                case .start(let id):
                    #expect(waiting.remove(id) != nil, "a verdict only for a waiter, and only once")
                    running += 1
                case .shed(let id):
                    #expect(waiting.remove(id) != nil)
                }
            }
            #expect(running <= 4 && running == queue.inFlight)
            #expect(waiting.count <= 8 && waiting.count == queue.waiting)
        }
    }
}
