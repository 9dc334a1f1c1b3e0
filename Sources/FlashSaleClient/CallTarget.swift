/// Which node a call is best sent to, as far as its arguments tell: a SKU's calls go to the node
/// that owns it (or the bucket that holds the user's or the reservation's share of a split SKU),
/// the rest to any node.
public enum CallTarget: Sendable, Hashable {
    case anyNode
    /// The SKU's own entry: its definition, reads and close.
    case sku(String)
    /// A user's reservation: their bucket when the SKU is split (and the client knows over how
    /// many buckets), else the SKU's owner.
    case userReservation(sku: String, user: String)
    /// A reservation by id: the bucket its id names, else the SKU's owner.
    case reservation(sku: String, id: String)
    /// One node, whatever it owns (its health, metrics and statistics).
    case node(URLText)

    /// A node's client URL as text (`http://127.0.0.1:8080`).
    public typealias URLText = String
}
