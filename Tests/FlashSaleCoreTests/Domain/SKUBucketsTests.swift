import FlashSaleCore
import Testing

struct SKUBucketsTests {
    @Test func aBucketsNameGivesBackItsSKUAndIndexAndNoOtherNameDoes() {
        for sku in ["tv", "ü-𝄞 shoe/42", "a-1", ""] {
            for bucket in [0, 7, 15] {
                let parsed = SKUBuckets.parse(SKUBuckets.name(of: sku, bucket: bucket))
                #expect(parsed?.sku == sku && parsed?.bucket == bucket, "\(sku) \(bucket)")
            }
            #expect(SKUBuckets.parse(sku) == nil)
            #expect(SKUBuckets.sku(of: SKUBuckets.name(of: sku, bucket: 3)) == sku)
        }
        #expect(SKUBuckets.parse("tv\u{1F}x") == nil)
    }

    @Test func aReservationIdNamesItsBucketAndSharesAddUpToTheStock() {
        #expect(SKUBuckets.bucket(ofReservation: SKUBuckets.reservationID("r0a1b", bucket: 12)) == 12)
        #expect(SKUBuckets.bucket(ofReservation: "r0a1b") == nil)
        #expect(SKUBuckets.shares(of: 10, buckets: 3) == [4, 3, 3])
        #expect(SKUBuckets.shares(of: 2, buckets: 3) == [1, 1, 0])
    }
}
