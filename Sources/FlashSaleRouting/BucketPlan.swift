public import FlashSaleCore

/// Where an operation on a SKU split over buckets goes (`SKUBuckets`), decided without I/O: a
/// user's reservation to their bucket, a reservation's read, commit or release (a cart's too) to the bucket its
/// id names, a define, a read and a close of the SKU to its own entry and then every bucket.
public enum BucketPlan: Sendable, Hashable {
    /// The operation as it is: a SKU of one bucket, the SKU's own entry, or a transfer step (which names its bucket).
    case whole
    /// The operation on bucket `index`, answered under the SKU's own name.
    case bucket(Int)
    /// The SKU's own entry first, then every bucket (a define with each bucket's share, a read adding them up).
    case entryThenEveryBucket

    /// The plan for `operation` on a SKU of `buckets` buckets.
    public static func plan(_ operation: SaleOperation, buckets: Int64) -> BucketPlan {
        switch operation {
        case .defineSKU(_, let settings):
            // A define of more than one bucket splits the SKU (the number is fixed once defined).
            return settings.buckets > 1 ? .entryThenEveryBucket : .whole
        case .skuState, .closeSKU:
            return buckets > 1 ? .entryThenEveryBucket : .whole
        case .reserve(_, let user, _, _):
            return buckets > 1 ? .bucket(SKUBuckets.bucket(of: user, buckets: buckets)) : .whole
        case .reservation(_, let id), .commit(_, let id), .release(_, let id), .prepareCommit(_, let id), .cartRelease(_, let id):
            // A reservation id names its bucket whatever this node knows of the SKU's buckets.
            guard let bucket = SKUBuckets.bucket(ofReservation: id), bucket < SKUBuckets.maximum else { return .whole }
            return .bucket(bucket)
        case .takeForTransfer, .receiveTransfer, .finishTransfer:
            return .whole
        }
    }

    /// Whether the plan needs the SKU's number of buckets: a reservation's and a close's do.
    public static func needsBucketCount(_ operation: SaleOperation) -> Bool {
        switch operation {
        case .reserve, .closeSKU: true
        default: false
        }
    }

    /// The donors a bucket that ran dry asks in turn: every other bucket, from the next one on.
    public static func donors(for bucket: Int, of buckets: Int64) -> [Int] {
        let count = Int(buckets)
        return (1..<max(1, count)).map { (bucket + $0) % count }
    }
}
