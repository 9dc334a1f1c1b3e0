import FlashSaleClient
import FlashSaleCore
import Foundation
import Testing

struct ClientRequestTests {
    @Test func identifiersArePercentEncodedAsOneSegmentEach() {
        #expect(ClientRequest.reservation(sku: "a b/c", id: "r%1").path == "/v1/skus/a%20b%2Fc/reservations/r%251")
        #expect(ClientRequest.commit(sku: "шуз", id: "r-1").path == "/v1/skus/%D1%88%D1%83%D0%B7/reservations/r-1/commit")
        #expect(ClientRequest.removeNode("n~2").path == "/v1/cluster/nodes/n~2")
    }

    @Test func aReservationCarriesItsRequestIdAndGoesToTheUsersBucket() throws {
        let request = ClientRequest.reserve(sku: "shoe", user: "ann \"a\"", quantity: 2, requestId: "q-1")
        let body = try JSONSerialization.jsonObject(with: request.body ?? Data()) as? [String: Any]
        #expect(body?["user"] as? String == "ann \"a\"" && body?["quantity"] as? Int == 2 && body?["requestId"] as? String == "q-1")
        #expect(request.target == .userReservation(sku: "shoe", user: "ann \"a\""))
        #expect(request.isRepeatable)
        #expect(!ClientRequest.addNode(.init(id: "n4", clientUrl: "http://x:1", peerAddress: "x:2", redisUrl: "redis://x:3")).isRepeatable)
    }

    @Test func saleTermsLeaveOutWhatIsNotSet() throws {
        let request = ClientRequest.defineSKU("shoe", SaleTerms(stock: 10, buckets: 3, endsAt: "2026-12-24T10:00:00.000Z"))
        let body = try JSONSerialization.jsonObject(with: request.body ?? Data()) as? [String: Any]
        #expect(body?.keys.sorted() == ["buckets", "endsAt", "stock"])
        #expect(request.method == "PUT" && request.target == .sku("shoe"))
    }
}
