/// Which SKUs this node has been asked to reserve most lately, for the status page: counts that
/// halve every `halfLifeMilliseconds` (time passed in), in a table of at most `keysMax` SKUs
/// (when full, the less asked-for half is dropped).
public struct HotSKUs: Sendable {
    public let halfLifeMilliseconds: Int64
    public let keysMax: Int
    private var counts: [String: Double] = [:]
    private var decayedAtMilliseconds: Int64?

    public init(halfLifeMilliseconds: Int64 = 30_000, keysMax: Int = 10_000) {
        precondition(halfLifeMilliseconds > 0 && keysMax >= 2)
        self.halfLifeMilliseconds = halfLifeMilliseconds
        self.keysMax = keysMax
    }

    public mutating func record(_ sku: String, nowMilliseconds: Int64) {
        self.decay(nowMilliseconds: nowMilliseconds)
        if self.counts[sku] == nil, self.counts.count >= self.keysMax {
            let kept = self.counts.sorted { $0.value > $1.value }.prefix(self.keysMax / 2)
            self.counts = Dictionary(uniqueKeysWithValues: kept.map { ($0.key, $0.value) })
        }
        self.counts[sku, default: 0] += 1
    }

    /// The `count` most asked-for SKUs, most first (ties by name), with their decayed counts.
    public mutating func top(_ count: Int, nowMilliseconds: Int64) -> [(sku: String, score: Double)] {
        self.decay(nowMilliseconds: nowMilliseconds)
        return self.counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .prefix(count).map { (sku: $0.key, score: $0.value) }
    }

    private mutating func decay(nowMilliseconds: Int64) {
        guard let decayedAt = self.decayedAtMilliseconds else {
            self.decayedAtMilliseconds = nowMilliseconds
            return
        }
        let halvings = (nowMilliseconds - decayedAt) / self.halfLifeMilliseconds
        guard halvings > 0 else { return }
        self.decayedAtMilliseconds = decayedAt + halvings * self.halfLifeMilliseconds
        let factor = halvings >= 64 ? 0 : 1 / Double(UInt64(1) << UInt64(halvings))
        // Below a tenth of a request a SKU is no longer hot: drop it rather than keep it forever.
        self.counts = self.counts.compactMapValues { count in
            let decayed = count * factor
            return decayed >= 0.1 ? decayed : nil
        }
    }
}
