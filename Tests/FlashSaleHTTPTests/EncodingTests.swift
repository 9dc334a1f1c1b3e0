import FlashSaleCore
import Foundation
import Testing

@testable import FlashSaleHTTP

@Suite struct EncodingTests {
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
