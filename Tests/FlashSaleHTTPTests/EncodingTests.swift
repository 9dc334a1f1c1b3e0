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

    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00.000Z"),
        (951_782_400_123, "2000-02-29T00:00:00.123Z"),
        (1_764_043_435_123, "2025-11-25T04:03:55.123Z"),
        (4_102_444_799_999, "2099-12-31T23:59:59.999Z"),
    ])
    func parsesWhatItFormats(_ milliseconds: Int64, _ text: String) {
        #expect(RFC3339.parse(text) == milliseconds)
    }

    @Test func parsesOffsetsAndFractionsAndRefusesTheRest() {
        #expect(RFC3339.parse("2026-12-24T10:00:00Z") == 1_798_106_400_000)
        #expect(RFC3339.parse("2026-12-24T11:30:00+01:30") == 1_798_106_400_000)
        #expect(RFC3339.parse("2026-12-24T08:00:00-02:00") == 1_798_106_400_000)
        #expect(RFC3339.parse("2026-12-24t10:00:00.1z") == 1_798_106_400_100)
        #expect(RFC3339.parse("2026-12-24 10:00:00.123999Z") == 1_798_106_400_123)
        for refused in [
            "", "2026-12-24", "2026-12-24T10:00Z", "2026-12-24T10:00:00", "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z",
            "2026-12-24T24:00:00Z", "2026-12-24T10:00:00.Z", "2026-12-24T10:00:00+0100", "1969-12-31T23:59:59Z",
            "2026-12-24T10:00:00Z ", "+2026-12-24T10:00:00Z",
        ] {
            #expect(RFC3339.parse(refused) == nil, "\(refused)")
        }
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
