import FlashSaleCore
import Testing

/// The sold-out memo without I/O: lifetime 500 ms, at most 3 requestIds and 2 SKUs.
@Suite struct SoldOutMemoTests {
    let start = ContinuousClock.now

    func memo() -> SoldOutMemo {
        SoldOutMemo(settings: .init(lifetime: .milliseconds(500), requestIdsMax: 3, skusMax: 2))
    }

    /// Sold out with "took-1" and "took-2" holding the stock, at epoch 7.
    func memoised(_ sku: String = "s", dueIn: Duration? = nil) -> SoldOutMemo {
        var memo = self.memo()
        let token = memo.soldOutAnswered(sku: sku, now: start)!
        memo.snapshotTaken(sku: sku, token: token, epoch: 7, sentAt: start, .soldOut(requestIds: ["took-1", "took-2"], firstDueIn: dueIn))
        return memo
    }

    @Test func newRequestIdsAreSoldOutFromMemoryAndTheOnesThatTookStockGoToRedis() {
        let memo = self.memoised()
        #expect(memo.answer(sku: "s", requestId: "new", epoch: 7, now: start) == .soldOut)
        #expect(memo.answer(sku: "s", requestId: "took-1", epoch: 7, now: start) == .ask, "a retry gets its reservation (I5)")
        #expect(memo.answer(sku: "s", requestId: "took-2", epoch: 7, now: start + .milliseconds(499)) == .ask)
        #expect(memo.answer(sku: "other", requestId: "new", epoch: 7, now: start) == .ask)
        #expect(memo.memoisedSKUs == 1)
    }

    @Test func aMemoEndsWithItsLifetimeItsFirstDueReservationOrAnotherEpoch() {
        var memo = self.memoised()
        #expect(memo.answer(sku: "s", requestId: "new", epoch: 7, now: start + .milliseconds(499)) == .soldOut)
        #expect(memo.answer(sku: "s", requestId: "new", epoch: 7, now: start + .milliseconds(500)) == .ask)
        #expect(memo.answer(sku: "s", requestId: "new", epoch: 8, now: start) == .ask)
        memo = self.memoised(dueIn: .milliseconds(120))
        #expect(memo.answer(sku: "s", requestId: "new", epoch: 7, now: start + .milliseconds(119)) == .soldOut)
        #expect(memo.answer(sku: "s", requestId: "new", epoch: 7, now: start + .milliseconds(120)) == .ask)
    }

    @Test func anyOtherOperationOnTheSKUEndsItsMemo() {
        var memo = self.memoised()
        memo.changing("s")
        #expect(memo.answer(sku: "s", requestId: "new", epoch: 7, now: start) == .ask)
        #expect(memo.memoisedSKUs == 0)
    }

    /// A release answered while the snapshot was on its way: the snapshot may predate it, so it is
    /// not kept, and the next sold_out asks for a new one.
    @Test func aSnapshotOverlappingAChangeIsNotKept() {
        var memo = self.memo()
        let token = memo.soldOutAnswered(sku: "s", now: start)!
        #expect(memo.soldOutAnswered(sku: "s", now: start) == nil, "one snapshot at a time")
        memo.changing("s")
        memo.snapshotTaken(sku: "s", token: token, epoch: 7, sentAt: start, .soldOut(requestIds: [], firstDueIn: nil))
        #expect(memo.answer(sku: "s", requestId: "new", epoch: 7, now: start) == .ask)
        let next = memo.soldOutAnswered(sku: "s", now: start)
        #expect(next != nil && next != token)
        memo.snapshotTaken(sku: "s", token: token, epoch: 7, sentAt: start, .soldOut(requestIds: [], firstDueIn: nil))
        #expect(memo.answer(sku: "s", requestId: "new", epoch: 7, now: start) == .ask, "a stale token installs nothing")
    }

    @Test func notSoldOutOrTooManyRequestIdsIsNotAskedAgainWithinTheLifetime() {
        var memo = self.memo()
        var token = memo.soldOutAnswered(sku: "s", now: start)!
        memo.snapshotTaken(sku: "s", token: token, epoch: 7, sentAt: start, .notSoldOut)
        #expect(memo.soldOutAnswered(sku: "s", now: start + .milliseconds(499)) == nil)
        token = memo.soldOutAnswered(sku: "s", now: start + .milliseconds(500))!
        memo.snapshotTaken(sku: "s", token: token, epoch: 7, sentAt: start + .milliseconds(500), .soldOut(requestIds: ["a", "b", "c", "d"], firstDueIn: nil))
        #expect(memo.answer(sku: "s", requestId: "new", epoch: 7, now: start + .milliseconds(500)) == .ask)
        #expect(memo.soldOutAnswered(sku: "s", now: start + .milliseconds(600)) == nil)
    }

    @Test func aFailedSnapshotIsRetriedOnTheNextSoldOut() {
        var memo = self.memo()
        let token = memo.soldOutAnswered(sku: "s", now: start)!
        memo.snapshotFailed(sku: "s", token: token)
        #expect(memo.soldOutAnswered(sku: "s", now: start) != nil)
    }

    @Test func theTableIsBoundedAndMakesRoomFromEndedEntries() {
        var memo = self.memo()
        #expect(memo.soldOutAnswered(sku: "a", now: start) != nil)
        #expect(memo.soldOutAnswered(sku: "b", now: start) != nil)
        #expect(memo.soldOutAnswered(sku: "c", now: start) == nil, "full")
        #expect(memo.soldOutAnswered(sku: "c", now: start + .milliseconds(500)) != nil, "a and b have ended")
    }
}
