/// Every refusal a sale operation can answer. The HTTP layer maps each to a status and error code.
public enum SaleError: Error, Sendable, Hashable {
    case invalidRequest(String)
    case unknownSKU
    case unknownReservation
    case soldOut
    case limitExceeded
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
