import FlashSaleHTTP
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// The admin token on every admin route, and the per-user and per-address limits, over a real
/// server and the test kit's in-memory sale (they do not depend on the shard).
@Suite struct SecurityTests {
    /// Every admin route of DESIGN section 3, with a body it would accept.
    static let adminRoutes: [(HTTPRequest.Method, String, String?)] = [
        (.put, "/v1/skus/guarded", #"{"stock": 5}"#),
        (.post, "/v1/cluster/nodes", #"{"id": "n2", "clientUrl": "http://127.0.0.1:1", "peerAddress": "127.0.0.1:2", "redisUrl": "redis://127.0.0.1:3"}"#),
        (.delete, "/v1/cluster/nodes/n2", nil),
    ]

    @Test func everyAdminRouteAnswers401WithoutTheTokenAndDoesNothing() async throws {
        try await APITests.withInMemoryAPI { client in
            let refused: [HTTPFields] = [
                [:],
                [.authorization: "Bearer wrong"],
                [.authorization: "Bearer \(APITests.token)x"],
                [.authorization: "Bearer \(APITests.token.dropLast())"],
                [.authorization: APITests.token],
                [.authorization: "Basic \(Data("admin:\(APITests.token)".utf8).base64EncodedString())"],
                [.authorization: "Bearer"],
            ]
            for (method, uri, body) in Self.adminRoutes {
                for headers in refused {
                    try await APITests.call(client, method, uri, body, headers: headers, expect: .unauthorized, error: "unauthorized")
                }
            }
            try await APITests.call(client, .get, "/v1/skus/guarded", expect: .notFound, error: "unknown_sku")
            // With the token each route does its work.
            try await APITests.call(client, .put, "/v1/skus/guarded", #"{"stock": 5}"#, headers: APITests.admin, expect: .created)
            for (method, uri, body) in Self.adminRoutes.dropFirst() {
                try await APITests.call(client, method, uri, body, headers: APITests.admin, expect: .accepted)
            }
        }
    }

    @Test func aUserOverTheLimitGets429AndOthersAreServed() async throws {
        try await APITests.withInMemoryAPI(limits: .init(perUser: .init(ratePerSecond: 0.1, burst: 3))) { client in
            try await APITests.call(client, .put, "/v1/skus/s", #"{"stock": 100, "perUserLimit": 50}"#, headers: APITests.admin, expect: .created)
            for attempt in 0..<3 {
                try await APITests.call(client, .post, "/v1/skus/s/reservations", #"{"user":"greedy","quantity":1,"requestId":"g\#(attempt)"}"#, expect: .created)
            }
            try await client.execute(
                uri: "/v1/skus/s/reservations", method: .post,
                body: ByteBuffer(string: #"{"user":"greedy","quantity":1,"requestId":"g3"}"#)
            ) { response in
                #expect(response.status == .tooManyRequests)
                let answer = try APITests.json(response)
                #expect(answer["error"] as? String == "rate_limited")
                #expect(Int(response.headers[.retryAfter] ?? "") ?? 0 >= 1)
            }
            for user in ["calm", "quiet"] {
                try await APITests.call(client, .post, "/v1/skus/s/reservations", #"{"user":"\#(user)","quantity":1,"requestId":"\#(user)"}"#, expect: .created)
            }
            // The refused reservation took nothing.
            let sku = try await APITests.call(client, .get, "/v1/skus/s", expect: .ok)
            #expect(sku["reserved"] as? Int == 5 && sku["available"] as? Int == 95)
        }
    }

    @Test func anAddressOverTheLimitGets429OnTheSaleAPIButProbesPass() async throws {
        try await APITests.withInMemoryAPI(limits: .init(perAddress: .init(ratePerSecond: 0.1, burst: 4))) { client in
            try await APITests.call(client, .put, "/v1/skus/s", #"{"stock": 1}"#, headers: APITests.admin, expect: .created)
            for _ in 0..<3 { try await APITests.call(client, .get, "/v1/skus/s", expect: .ok) }
            try await APITests.call(client, .get, "/v1/skus/s", expect: .tooManyRequests, error: "rate_limited")
            try await APITests.call(client, .post, "/v1/skus/s/reservations", #"{"user":"u","quantity":1,"requestId":"r"}"#,
                expect: .tooManyRequests, error: "rate_limited")
            try await APITests.call(client, .get, "/healthz", expect: .ok)
            try await client.execute(uri: "/metrics", method: .get) { #expect($0.status == .ok) }
        }
    }

    /// NIO's HTTP parser refuses a header block over 80 KiB; the connection is closed, and the
    /// node serves new connections as before.
    @Test func oversizedHeadersAreRefusedAndTheNodeKeepsServing() async throws {
        try await APITests.withInMemoryAPI { client in
            let padding = HTTPField.Name("X-Padding")!
            try await client.execute(uri: "/healthz", method: .get, headers: [padding: String(repeating: "p", count: 100 * 1024)]) { response in
                #expect(response.status == .badRequest)
            }
            let port = try #require(client.port)
            let (_, answer) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/healthz")!)
            #expect((answer as? HTTPURLResponse)?.statusCode == 200)
        }
    }
}
