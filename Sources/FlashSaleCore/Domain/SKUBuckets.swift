/// A SKU split over buckets (`SKUSettings.buckets` above 1), so that one hot SKU's sale runs on
/// several shards. The SKU's own entry, on its owner, holds only its settings (the directory);
/// bucket `i` is an internal SKU named `sku + separator + i`, placed on the node ranked `i`-th for
/// the SKU's slot (`Placement`), holding a share of the stock. A user always reaches the same
/// bucket, so the per-user limit and idempotency stay exact within one shard; stock moves between
/// buckets by transfers as they run dry (Docs/ARCHITECTURE.md, "One hot SKU over several shards").
public enum SKUBuckets {
    /// Clients' SKU names are printable, so no client SKU can look like a bucket.
    public static let separator: Character = "\u{1F}"
    private static let separatorByte = separator.asciiValue!
    public static let maximum: Int64 = 16

    public static func name(of sku: String, bucket: Int) -> String {
        "\(sku)\(Self.separator)\(bucket)"
    }

    /// The SKU and bucket index of a bucket's name; nil for any other name. Placement asks this of
    /// every SKU name it places, so it scans bytes, not characters (the separator is one byte, and
    /// a control character never joins a neighbour in a character).
    public static func parse(_ name: String) -> (sku: String, bucket: Int)? {
        guard let mark = name.utf8.lastIndex(of: Self.separatorByte), let bucket = Int(name[name.utf8.index(after: mark)...]) else { return nil }
        return (String(name[..<mark]), bucket)
    }

    /// The SKU a name belongs to: itself, or the SKU of a bucket.
    public static func sku(of name: String) -> String {
        Self.parse(name)?.sku ?? name
    }

    /// The bucket that serves `user` for a SKU of `buckets` buckets.
    public static func bucket(of user: String, buckets: Int64) -> Int {
        Int(StableHash.of(user) % UInt64(max(1, buckets)))
    }

    /// The stock each bucket starts with: an equal share, the remainder to the first buckets.
    public static func shares(of stock: Int64, buckets: Int64) -> [Int64] {
        let count = max(1, buckets)
        return (0..<count).map { index in stock / count + (index < stock % count ? 1 : 0) }
    }

    /// A reservation id names its bucket after a '-' (ids are otherwise letters and digits), so
    /// reads, commits and releases go straight to it.
    public static func reservationID(_ id: String, bucket: Int) -> String {
        "\(id)-\(bucket)"
    }

    public static func bucket(ofReservation id: String) -> Int? {
        guard let mark = id.utf8.lastIndex(of: UInt8(ascii: "-")) else { return nil }
        return Int(id[id.utf8.index(after: mark)...])
    }
}

/// Units on their way from one bucket of a SKU to another: taken out of the donor's stock (and
/// recorded there) before they are added to the recipient's under the same sequence number, which
/// the recipient remembers per donor, so a repeated delivery adds nothing. Between the two steps
/// the units are in neither bucket: the SKU can undersell for that moment, never oversell.
public struct PendingTransfer: Sendable, Hashable {
    public var donor: Int
    public var recipient: Int
    /// The donor's count of transfers out, this one included.
    public var sequence: Int64
    public var units: Int64

    public init(donor: Int, recipient: Int, sequence: Int64, units: Int64) {
        self.donor = donor
        self.recipient = recipient
        self.sequence = sequence
        self.units = units
    }
}
