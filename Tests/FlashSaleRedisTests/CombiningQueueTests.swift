@testable import FlashSaleRedis
import Testing

@Suite struct CombiningQueueTests {
    @Test func theFirstCallerLeadsAndLaterOnesWaitForTheNextCall() {
        var queue = CombiningQueue<Int>(batchMax: 3, waitingMax: 10)
        #expect(queue.arrive(sku: "hot", 1) == .lead)
        #expect(queue.arrive(sku: "other", 2) == .lead, "SKUs do not wait for each other")
        for waiter in 3...7 { #expect(queue.arrive(sku: "hot", waiter) == .wait) }
        #expect(queue.finished(sku: "hot") == [3, 4, 5], "at most batchMax, oldest first")
        #expect(queue.arrive(sku: "hot", 8) == .wait, "the next call is in flight")
        #expect(queue.finished(sku: "hot") == [6, 7, 8])
        #expect(queue.finished(sku: "hot") == [])
        #expect(queue.arrive(sku: "hot", 9) == .lead, "nothing in flight any more")
        #expect(queue.finished(sku: "other") == [])
        #expect(queue.skusInFlight == 1)
    }

    @Test func pastWaitingMaxACallerIsRefused() {
        var queue = CombiningQueue<Int>(batchMax: 8, waitingMax: 2)
        #expect(queue.arrive(sku: "hot", 1) == .lead)
        #expect(queue.arrive(sku: "hot", 2) == .wait)
        #expect(queue.arrive(sku: "hot", 3) == .wait)
        #expect(queue.arrive(sku: "hot", 4) == .full)
        #expect(queue.finished(sku: "hot") == [2, 3])
        #expect(queue.arrive(sku: "hot", 5) == .wait)
    }
}
