public import FlashSaleCore

/// The new owner's side of the handoffs in progress: the chunks of each SKU's snapshot gathered
/// until the snapshot is whole (a SKU has one previous owner at a time). Pure; bounded in transfers and in buffered
/// reservations, and a transfer left unfinished is dropped (the sender starts it again).
public struct HandoffAssembly: Sendable {
    public enum Step: Sendable, Hashable {
        /// Stored; the next chunk starts at reservation `next`.
        case incomplete(next: UInt32)
        case complete(SKUSnapshot)
        case refused(String)
    }

    private struct Transfer {
        var first: HandoffChunk
        var reservations: [SKUSnapshot.Entry]
        var touched: ContinuousClock.Instant
    }

    public let transfersMaximum: Int
    public let bufferedReservationsMaximum: Int
    public let idleLimit: Duration
    private var transfers: [String: Transfer] = [:]
    private var buffered = 0

    public init(transfersMaximum: Int = 64, bufferedReservationsMaximum: Int = 1_000_000, idleLimit: Duration = .seconds(30)) {
        self.transfersMaximum = transfersMaximum
        self.bufferedReservationsMaximum = bufferedReservationsMaximum
        self.idleLimit = idleLimit
    }

    public var transfersInProgress: Int { self.transfers.count }

    public mutating func receive(_ chunk: HandoffChunk, now: ContinuousClock.Instant) -> Step {
        self.dropIdle(now: now)
        let key = chunk.state.sku
        if chunk.firstIndex == 0 {
            // A new start replaces whatever an earlier attempt left.
            self.drop(key)
            if chunk.reservationCount == UInt32(chunk.reservations.count) { return .complete(Self.snapshot(chunk, chunk.reservations)) }
            guard self.transfers.count < self.transfersMaximum else { return .refused("too many handoffs in progress; retry") }
            guard self.buffered + Int(chunk.reservationCount) <= self.bufferedReservationsMaximum else {
                return .refused("too many reservations in handoffs in progress; retry")
            }
            self.transfers[key] = Transfer(first: chunk, reservations: chunk.reservations, touched: now)
            self.buffered += Int(chunk.reservationCount)
            return .incomplete(next: UInt32(chunk.reservations.count))
        }
        guard var transfer = self.transfers[key], transfer.first.version == chunk.version,
            transfer.first.reservationCount == chunk.reservationCount, transfer.reservations.count == Int(chunk.firstIndex)
        else {
            self.drop(key)
            return .refused("a handoff chunk out of order; start the SKU again")
        }
        transfer.reservations += chunk.reservations
        transfer.touched = now
        guard transfer.reservations.count == Int(chunk.reservationCount) else {
            self.transfers[key] = transfer
            return .incomplete(next: UInt32(transfer.reservations.count))
        }
        self.drop(key)
        return .complete(Self.snapshot(transfer.first, transfer.reservations))
    }

    private static func snapshot(_ chunk: HandoffChunk, _ reservations: [SKUSnapshot.Entry]) -> SKUSnapshot {
        SKUSnapshot(state: chunk.state, version: chunk.version, transfers: chunk.transfers, reservations: reservations)
    }

    private mutating func drop(_ key: String) {
        guard let transfer = self.transfers.removeValue(forKey: key) else { return }
        self.buffered -= Int(transfer.first.reservationCount)
    }

    private mutating func dropIdle(now: ContinuousClock.Instant) {
        for (key, transfer) in self.transfers where now - transfer.touched > self.idleLimit { self.drop(key) }
    }
}
