import FlashSaleCore
import Testing

@testable import FlashSalePeer

struct HandoffAssemblyTests {
    let start = ContinuousClock.now

    static func snapshot(_ sku: String = "a", reservations count: Int, version: Int64 = 40) -> SKUSnapshot {
        let entries = (0..<count).map { index in
            SKUSnapshot.Entry(
                id: "r\(index)", status: .reserved, quantity: 1, expiresAtMilliseconds: 1, version: Int64(index), user: "u\(index)",
                requestId: String(repeating: "q", count: 128)
            )
        }
        return SKUSnapshot(state: .init(sku: sku, settings: .init(stock: 100_000), reserved: Int64(count), committed: 0), version: version, reservations: entries)
    }

    @Test func chunksInOrderMakeTheWholeSnapshot() {
        let snapshot = Self.snapshot(reservations: 2_000)
        let chunks = HandoffChunk.split(snapshot, senderEpoch: 2)
        #expect(chunks.count > 2)
        var assembly = HandoffAssembly()
        for chunk in chunks.dropLast() {
            #expect(assembly.receive(chunk, now: self.start) == .incomplete(next: chunk.firstIndex + UInt32(chunk.reservations.count)))
        }
        #expect(assembly.receive(chunks.last!, now: self.start) == .complete(snapshot))
        #expect(assembly.transfersInProgress == 0)
    }

    @Test func aSnapshotInOneChunkIsCompleteAtOnce() {
        let snapshot = Self.snapshot(reservations: 3)
        var assembly = HandoffAssembly()
        #expect(assembly.receive(HandoffChunk.split(snapshot, senderEpoch: 2)[0], now: self.start) == .complete(snapshot))
    }

    @Test func aChunkOutOfOrderIsRefusedAndTheSenderStartsAgain() {
        let chunks = HandoffChunk.split(Self.snapshot(reservations: 2_000), senderEpoch: 2)
        var assembly = HandoffAssembly()
        _ = assembly.receive(chunks[0], now: self.start)
        guard case .refused = assembly.receive(chunks[2], now: self.start) else {
            Issue.record("a skipped chunk was taken")
            return
        }
        #expect(assembly.transfersInProgress == 0)
        // A chunk of a newer snapshot (the SKU changed and was frozen again) does not continue an older one.
        _ = assembly.receive(chunks[0], now: self.start)
        let newer = HandoffChunk.split(Self.snapshot(reservations: 2_000, version: 41), senderEpoch: 2)
        guard case .refused = assembly.receive(newer[1], now: self.start) else {
            Issue.record("a chunk of a newer snapshot continued an older one")
            return
        }
    }

    @Test func transfersAndBufferedReservationsAreBoundedAndIdleOnesDropped() {
        var assembly = HandoffAssembly(transfersMaximum: 2, bufferedReservationsMaximum: 5_000, idleLimit: .seconds(30))
        let firsts = (0..<3).map { HandoffChunk.split(Self.snapshot("s\($0)", reservations: 2_000), senderEpoch: 2)[0] }
        #expect(assembly.receive(firsts[0], now: self.start) != .refused("too many handoffs in progress; retry"))
        #expect(assembly.receive(firsts[1], now: self.start) == .incomplete(next: UInt32(firsts[1].reservations.count)))
        #expect(assembly.receive(firsts[2], now: self.start) == .refused("too many handoffs in progress; retry"))
        // Later, the first two have been idle past the limit: dropped, so the third fits.
        let later = self.start + .seconds(31)
        #expect(assembly.receive(firsts[2], now: later) == .incomplete(next: UInt32(firsts[2].reservations.count)))
        #expect(assembly.transfersInProgress == 1)
        let large = HandoffChunk.split(Self.snapshot("big", reservations: 4_000), senderEpoch: 2)[0]
        #expect(assembly.receive(large, now: later) == .refused("too many reservations in handoffs in progress; retry"))
    }
}
