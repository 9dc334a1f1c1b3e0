import FlashSaleCluster
import FlashSaleCore
import FlashSaleTesting
import Foundation
import HTTPTypes
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A request id follows a forwarded request: the entry node answers with it in X-Request-Id, and
/// the log lines about the request on the entry node and on the SKU's owner both carry it.
@Suite struct RequestTraceTests {
    static func post(_ port: Int, _ path: String, body: String, requestID: String) async throws -> (status: Int, requestID: String?) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = "POST"
        request.httpBody = Data(body.utf8)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue(requestID, forHTTPHeaderField: "X-Request-Id")
        let (_, response) = try await URLSession.shared.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        return (http.statusCode, http.value(forHTTPHeaderField: "X-Request-Id"))
    }

    @Test func aForwardedRequestIsLoggedUnderTheSameIdOnBothNodes() async throws {
        try await TestCluster.with(nodes: 2, logLevel: "debug") { cluster in
            let membership = TestCluster.membership(active: ["n1", "n2"])
            let sku = (0...).lazy.map { "traced-\($0)" }.first { membership.owner(of: $0)?.id == "n2" }!
            #expect(try await HTTP.call(cluster.ports[1], .put, "/v1/skus/\(sku)", body: #"{"stock": 3}"#).status == 201)

            let reserve = #"{"user": "ann", "quantity": 1, "requestId": "r1"}"#
            let traced = try await Self.post(cluster.ports[0], "/v1/skus/\(sku)/reservations", body: reserve, requestID: "checkout-7f3a.42")
            #expect(traced.status == 201 && traced.requestID == "checkout-7f3a.42")
            // An id that is not safe to log is replaced by a fresh one.
            let replaced = try await Self.post(cluster.ports[0], "/v1/skus/\(sku)/reservations", body: reserve, requestID: "bad id\" x=1")
            #expect(replaced.status == 200)
            let fresh = try #require(replaced.requestID)
            #expect(fresh.count == 16 && RequestTrace.isValid(fresh))

            try await Task.sleep(for: .milliseconds(300))  // the log lines reach the files
            let entry = try String(contentsOf: cluster.node("n1").logFile, encoding: .utf8)
            let owner = try String(contentsOf: cluster.node("n2").logFile, encoding: .utf8)
            let tag = "requestId=checkout-7f3a.42"
            #expect(entry.split(separator: "\n").contains { $0.contains(tag) && $0.contains("answered") && $0.contains("status=201") })
            #expect(owner.split(separator: "\n").contains { $0.contains(tag) && $0.contains("serving a forwarded request") })
            #expect(owner.contains("requestId=\(fresh)"))
        }
    }
}

@Suite struct RequestTraceIdTests {
    @Test func onlyShortPlainIdsAreTakenFromClients() {
        for valid in ["a", "checkout-7f3a.42", "A_b-C.9", String(repeating: "x", count: 64)] { #expect(RequestTrace.isValid(valid)) }
        for invalid in ["", "has space", "quote\"", "new\nline", "é", String(repeating: "x", count: 65), "a=b"] {
            #expect(!RequestTrace.isValid(invalid))
        }
        #expect(RequestTrace.make() != RequestTrace.make())
    }
}
