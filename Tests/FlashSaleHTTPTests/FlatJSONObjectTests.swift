import Foundation
import Testing

@testable import FlashSaleHTTP

/// The reservation body's fast reader: it reads the common shape, and whatever it reads,
/// JSONDecoder reads the same; every other shape is left to JSONDecoder.
@Suite struct FlatJSONObjectTests {
    static let readable = [
        #"{"user":"u1","quantity":1,"requestId":"q1"}"#,
        "{ \"x\" : 5 ,\n\t\"user\": \"ü 𝄞\", \"quantity\": -3, \"requestId\": \"q\" , \"more\": \"ignored\"}\r\n",
        #"{"requestId":"q","quantity":0,"user":""}"#,
        #"{"user":"u","quantity":9223372036854775807,"requestId":"q"}"#,
        #"{"user":"u","quantity":-9223372036854775807,"requestId":"q"}"#,
    ]

    static let leftToJSONDecoder = [
        #"{"user":"u\n","quantity":1,"requestId":"q"}"#,  // an escape
        #"{"user":"u","quantity":1.0,"requestId":"q"}"#,
        #"{"user":"u","quantity":1e2,"requestId":"q"}"#,
        #"{"user":"u","quantity":01,"requestId":"q"}"#,
        #"{"user":"u","quantity":1,"requestId":"q","nested":{"a":1}}"#,
        #"{"user":"u","quantity":1,"requestId":"q","flag":true}"#,
        #"{"user":"u","quantity":1,"requestId":"q","user":"v"}"#,  // a repeated key
        #"{"user":"u","quantity":1,"requestId":"q",}"#,
        #"{"user":"u","quantity":1,"requestId":"q"} x"#,
        #"{"user":"u","quantity":99999999999999999999,"requestId":"q"}"#,
        #"{"user":"u","quantity":"1","requestId":"q"}"#,  // a wrong type: JSONDecoder words the 400
        #"{"user":"u","requestId":"q"}"#,
        #"["user"]"#,
        "",
    ]

    @Test func theCommonShapeIsReadAsJSONDecoderReadsIt() throws {
        for text in Self.readable {
            let object = try #require(FlatJSONObject(Array(text.utf8)), "\(text)")
            let fast = try #require(ReserveBody(flat: object), "\(text)")
            #expect(fast == (try JSONDecoder().decode(ReserveBody.self, from: Data(text.utf8))), "\(text)")
        }
    }

    @Test func everyOtherShapeIsLeftToJSONDecoder() {
        for text in Self.leftToJSONDecoder {
            #expect(FlatJSONObject(Array(text.utf8)).flatMap(ReserveBody.init(flat:)) == nil, "\(text)")
        }
        // Bytes that are not UTF-8 inside a string.
        let invalid = Array(#"{"user":""#.utf8) + [0xFF, 0xFE] + Array(#"","quantity":1,"requestId":"q"}"#.utf8)
        #expect(FlatJSONObject(invalid) == nil)
        #expect(FlatJSONObject(Array("{}".utf8))?.members.isEmpty == true)
    }
}
