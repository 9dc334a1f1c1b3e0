/// Every refusal a sale operation can answer. The HTTP layer maps each to a status and error code.
public enum SaleError: Error, Sendable, Hashable {
    case invalidRequest(String)
    case unknownSKU
    case unknownReservation
    case soldOut
    case limitExceeded
    /// The sale opens in this many milliseconds, on its owner shard's clock.
    case notStarted(opensInMilliseconds: Int64)
    /// The sale's window has ended (its endsAt passed, or it was closed).
    case saleEnded
    /// The SKU is archived: its reservations are in the record only. The owner answers reads of
    /// them from the record; a define is refused with it, as the SKU can never sell again.
    case archived
    case stockBelowSold(reservedAndCommitted: Int64)
    case refused(ReservationRefusal)
    /// The store cannot answer now (Redis down, queue full). Safe to retry with the same requestId.
    case unavailable(String)
    /// The shard has been told of a newer membership epoch than the caller routed by: the caller
    /// reads the membership and routes again. Reaches a client only as a retryable 503.
    case staleMembership(shardEpoch: Int64)
    /// The SKU left this shard at membership epoch `epoch` (its handoff to a new owner started):
    /// the new owner serves it once it has imported it. Reaches a client only as a retryable 503.
    case moved(epoch: Int64)
}
