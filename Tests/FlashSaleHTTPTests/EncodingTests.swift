import FlashSaleCore
import Foundation
import Testing

@testable import FlashSaleHTTP

@Suite struct EncodingTests {
    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00.000Z"),
        (951_782_400_123, "2000-02-29T00:00:00.123Z"),
        (1_764_043_435_123, "2025-11-25T04:03:55.123Z"),
        (4_102_444_799_999, "2099-12-31T23:59:59.999Z"),
    ])
    func formatsRFC3339(_ milliseconds: Int64, _ expected: String) {
        #expect(RFC3339.format(milliseconds: milliseconds) == expected)
    }

    @Test func escapesWhatJSONRequiresAndRoundTrips() throws {
        let tricky = "quote\" back\\slash tab\t nl\n ctl\u{01} ünï"
        let text = JSONWriter.object {
            $0.field("plain", "shoe-42")
            $0.field("tricky", tricky)
            $0.field("count", Int64(-7))
            $0.nullField("none")
        }
        let decoded = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(decoded["plain"] as? String == "shoe-42")
        #expect(decoded["tricky"] as? String == tricky)
        #expect(decoded["count"] as? Int == -7)
        #expect(decoded["none"] is NSNull)
    }

    @Test func comparesTokensWithoutShortcuts() {
        #expect(constantTimeEquals(Array("Bearer abc".utf8), Array("Bearer abc".utf8)))
        #expect(!constantTimeEquals(Array("Bearer abd".utf8), Array("Bearer abc".utf8)))
        #expect(!constantTimeEquals(Array("Bearer ab".utf8), Array("Bearer abc".utf8)))
        #expect(!constantTimeEquals([], Array("Bearer abc".utf8)))
    }
}
