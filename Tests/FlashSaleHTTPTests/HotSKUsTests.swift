import FlashSaleHTTP
import Testing

@Suite struct HotSKUsTests {
    @Test func theMostAskedForComeFirstAndCountsHalveWithTime() {
        var hot = HotSKUs(halfLifeMilliseconds: 1_000)
        for _ in 0..<8 { hot.record("shoe", nowMilliseconds: 0) }
        for _ in 0..<2 { hot.record("hat", nowMilliseconds: 0) }
        hot.record("sock", nowMilliseconds: 0)
        #expect(hot.top(2, nowMilliseconds: 500).map(\.sku) == ["shoe", "hat"])
        #expect(hot.top(3, nowMilliseconds: 500).map(\.score) == [8, 2, 1])
        // Two half-lives later: 2, 0.5 and 0.25; ten later everything is below a tenth and gone.
        #expect(hot.top(3, nowMilliseconds: 2_000).map(\.score) == [2, 0.5, 0.25])
        for _ in 0..<5 { hot.record("hat", nowMilliseconds: 2_000) }
        #expect(hot.top(1, nowMilliseconds: 2_000).map(\.sku) == ["hat"])
        #expect(hot.top(3, nowMilliseconds: 20_000).isEmpty)
    }

    @Test func theTableKeepsTheBusierHalfWhenFull() {
        var hot = HotSKUs(halfLifeMilliseconds: 60_000, keysMax: 4)
        for (sku, count) in [("a", 5), ("b", 4), ("c", 3), ("d", 2)] {
            for _ in 0..<count { hot.record(sku, nowMilliseconds: 0) }
        }
        hot.record("e", nowMilliseconds: 0)
        #expect(hot.top(10, nowMilliseconds: 0).map(\.sku) == ["a", "b", "e"])
    }
}
