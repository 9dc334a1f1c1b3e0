import FlashSaleCore
import FlashSaleHTTP
import FlashSaleRedis
import FlashSaleTesting
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// The HTTP API over a real server and a real Redis shard.
@Suite struct APITests {
    static let token = "test-token"
    static let admin: HTTPFields = [.authorization: "Bearer \(token)"]

    /// The API over a real Redis shard.
    static func withAPI(
        limits: ClientLimits = .init(),
        scriptTime: ScriptTime = .redis,
        _ body: @Sendable (any TestClientProtocol, TestShard) async throws -> Void
    ) async throws {
        let shard = try await TestShard.start(scriptTime: scriptTime)
        try await Self.withAPI(
            over: shard.store,
            skuCount: { try await shard.store.skuCount() },
            isReady: { (try? await shard.store.scripts.loadAll()) != nil },
            limits: limits
        ) { client in try await body(client, shard) }
        await shard.close()
    }

    /// The API over the test kit's in-memory sale: for what does not depend on the shard (access
    /// control, limits).
    static func withInMemoryAPI(limits: ClientLimits = .init(), _ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let operations = InMemorySaleOperations(nowMilliseconds: { Int64(Date().timeIntervalSince1970 * 1000) })
        try await Self.withAPI(over: operations, skuCount: { 0 }, isReady: { true }, limits: limits, body)
    }

    static var nowMilliseconds: Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    static func withAPI(
        over operations: any SaleOperations,
        skuCount: @escaping @Sendable () async throws -> Int64,
        isReady: @escaping @Sendable () async -> Bool,
        limits: ClientLimits,
        admission: AdmissionGate? = nil,
        _ body: @Sendable (any TestClientProtocol) async throws -> Void
    ) async throws {
        let router = makeAPIRouter(
            APIDependencies(
                operations: operations,
                adminToken: token,
                clusterStatus: {
                    ClusterStatus(
                        epoch: 1,
                        nodes: [.init(id: "n1", clientUrl: "http://x", peerAddress: "p", state: "active", skuCount: try await skuCount(), slots: 4096)],
                        syncer: .init(leader: nil, fencingEpoch: 0, lagSeconds: nil)
                    )
                },
                isReady: isReady,
                metricsText: { "flashsale_test 1\n" },
                addNode: { registration in
                    guard registration.id == "n2" else { throw ClusterChangeError.inProgress("n1 is joining") }
                },
                removeNode: { id in
                    guard id == "n2" else { throw ClusterChangeError.unknownNode("\(id) is not a member") }
                },
                limits: limits,
                admission: admission
            )
        )
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in try await body(client) }
    }

    static func json(_ response: TestResponse) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8))
        return try #require(object as? [String: Any], "not a JSON object: \(String(buffer: response.body))")
    }

    static func body(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    @discardableResult
    static func call(
        _ client: any TestClientProtocol,
        _ method: HTTPRequest.Method,
        _ uri: String,
        _ body: String? = nil,
        headers: HTTPFields = [:],
        expect status: HTTPResponse.Status,
        error code: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> [String: Any] {
        try await client.execute(uri: uri, method: method, headers: headers, body: body.map(Self.body)) { response in
            #expect(response.status == status, "\(method) \(uri): \(String(buffer: response.body))", sourceLocation: sourceLocation)
            let object = try Self.json(response)
            if let code {
                #expect(object["error"] as? String == code, sourceLocation: sourceLocation)
                #expect((object["message"] as? String)?.isEmpty == false, sourceLocation: sourceLocation)
            }
            return object
        }
    }

    @Test func aSaleThroughTheAPI() async throws {
        try await Self.withAPI { client, _ in
            let define = #"{"stock": 3, "perUserLimit": 2, "reservationTtlSeconds": 600}"#
            try await Self.call(client, .put, "/v1/skus/shoe", define, expect: .unauthorized, error: "unauthorized")
            try await Self.call(client, .put, "/v1/skus/shoe", define, headers: [.authorization: "Bearer wrong"], expect: .unauthorized, error: "unauthorized")
            let created = try await Self.call(client, .put, "/v1/skus/shoe", define, headers: Self.admin, expect: .created)
            #expect(created["available"] as? Int == 3 && created["perUserLimit"] as? Int == 2)
            try await Self.call(client, .put, "/v1/skus/shoe", #"{"stock": 4, "perUserLimit": 2}"#, headers: Self.admin, expect: .ok)

            let reservation = try await Self.call(
                client, .post, "/v1/skus/shoe/reservations", #"{"user":"ann","quantity":2,"requestId":"a1"}"#, expect: .created)
            let id = try #require(reservation["id"] as? String)
            #expect(reservation["status"] as? String == "reserved" && reservation["sku"] as? String == "shoe")
            #expect(reservation["user"] as? String == "ann" && reservation["quantity"] as? Int == 2 && reservation["requestId"] as? String == "a1")
            let expiresAt = try #require(reservation["expiresAt"] as? String)
            #expect(ISO8601DateFormatter.withFractionalSeconds.date(from: expiresAt) != nil, "not RFC 3339: \(expiresAt)")

            let repeated = try await Self.call(
                client, .post, "/v1/skus/shoe/reservations", #"{"user":"ann","quantity":2,"requestId":"a1"}"#, expect: .ok)
            #expect(repeated["id"] as? String == id)
            try await Self.call(client, .post, "/v1/skus/shoe/reservations", #"{"user":"ann","quantity":1,"requestId":"a2"}"#,
                expect: .conflict, error: "limit_exceeded")
            let bob = try await Self.call(client, .post, "/v1/skus/shoe/reservations", #"{"user":"bob","quantity":2,"requestId":"b1"}"#,
                expect: .created)
            try await Self.call(client, .post, "/v1/skus/shoe/reservations", #"{"user":"cy","quantity":1,"requestId":"c1"}"#,
                expect: .conflict, error: "sold_out")

            #expect(try await Self.call(client, .get, "/v1/skus/shoe/reservations/\(id)", expect: .ok)["id"] as? String == id)
            #expect(try await Self.call(client, .post, "/v1/skus/shoe/reservations/\(id)/commit", expect: .ok)["status"] as? String == "committed")
            try await Self.call(client, .post, "/v1/skus/shoe/reservations/\(id)/commit", expect: .ok)
            try await Self.call(client, .post, "/v1/skus/shoe/reservations/\(id)/release", expect: .conflict, error: "committed")
            let bobID = try #require(bob["id"] as? String)
            #expect(try await Self.call(client, .post, "/v1/skus/shoe/reservations/\(bobID)/release", expect: .ok)["status"] as? String == "released")
            try await Self.call(client, .post, "/v1/skus/shoe/reservations/\(bobID)/release", expect: .ok)
            try await Self.call(client, .post, "/v1/skus/shoe/reservations/\(bobID)/commit", expect: .conflict, error: "released")

            let sku = try await Self.call(client, .get, "/v1/skus/shoe", expect: .ok)
            #expect(sku["stock"] as? Int == 4 && sku["available"] as? Int == 2 && sku["reserved"] as? Int == 0 && sku["committed"] as? Int == 2)
            #expect(sku["reservationTtlSeconds"] as? Int == 600)
            try await Self.call(client, .put, "/v1/skus/shoe", #"{"stock": 1}"#, headers: Self.admin, expect: .conflict, error: "stock_below_sold")
        }
    }

    @Test func anExpiredReservationAnswers410AndItsStockIsBack() async throws {
        try await Self.withAPI(scriptTime: .supplied) { client, shard in
            try await Self.call(client, .put, "/v1/skus/s", #"{"stock": 1, "reservationTtlSeconds": 1}"#, headers: Self.admin, expect: .created)
            let reservation = try await Self.call(client, .post, "/v1/skus/s/reservations", #"{"user":"u","quantity":1,"requestId":"1"}"#, expect: .created)
            let id = try #require(reservation["id"] as? String)
            try await shard.advanceScriptClock(by: .milliseconds(999))
            #expect(try await Self.call(client, .get, "/v1/skus/s/reservations/\(id)", expect: .ok)["status"] as? String == "reserved")
            try await shard.advanceScriptClock(by: .milliseconds(1))
            try await Self.call(client, .post, "/v1/skus/s/reservations/\(id)/commit", expect: .gone, error: "expired")
            #expect(try await Self.call(client, .get, "/v1/skus/s/reservations/\(id)", expect: .ok)["status"] as? String == "expired")
            #expect(try await Self.call(client, .get, "/v1/skus/s", expect: .ok)["available"] as? Int == 1)
        }
    }

    @Test func twoHundredBuyersOverHTTPForFiftyUnits() async throws {
        try await Self.withAPI { client, _ in
            try await Self.call(client, .put, "/v1/skus/hot", #"{"stock": 50}"#, headers: Self.admin, expect: .created)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for buyer in 0..<200 {
                    group.addTask {
                        try await client.execute(
                            uri: "/v1/skus/hot/reservations", method: .post,
                            body: Self.body(#"{"user":"u\#(buyer)","quantity":1,"requestId":"q\#(buyer)"}"#)
                        ) { $0.status.code }
                    }
                }
                return try await group.reduce(into: [Int: Int]()) { $0[$1, default: 0] += 1 }
            }
            #expect(statuses == [201: 50, 409: 150])
            let sku = try await Self.call(client, .get, "/v1/skus/hot", expect: .ok)
            #expect(sku["reserved"] as? Int == 50 && sku["available"] as? Int == 0)
        }
    }

    @Test func badInputGetsClear4xxAndNeverHurtsTheNode() async throws {
        try await Self.withAPI { client, _ in
            try await Self.call(client, .put, "/v1/skus/s", #"{"stock": 10, "perUserLimit": 10}"#, headers: Self.admin, expect: .created)
            let reserve = "/v1/skus/s/reservations"
            let longUser = String(repeating: "u", count: 200)
            let invalidBodies = [
                "{not json", "", "[]", "null", #"{"user":"u","quantity":1}"#, #"{"quantity":1,"requestId":"r"}"#,
                #"{"user":"u","quantity":"1","requestId":"r"}"#, #"{"user":5,"quantity":1,"requestId":"r"}"#,
                #"{"user":"u","quantity":1.5,"requestId":"r"}"#, #"{"user":"u","quantity":0,"requestId":"r"}"#,
                #"{"user":"u","quantity":-3,"requestId":"r"}"#, #"{"user":"u","quantity":1e30,"requestId":"r"}"#,
                #"{"user":"u","quantity":99999999999999999999999,"requestId":"r"}"#,
                #"{"user":"u","quantity":10000000000,"requestId":"r"}"#, #"{"user":"\#(longUser)","quantity":1,"requestId":"r"}"#,
                #"{"user":"","quantity":1,"requestId":"r"}"#, #"{"user":"a\u0001b","quantity":1,"requestId":"r"}"#,
                #"{"user":"u","quantity":null,"requestId":"r"}"#,
            ]
            for body in invalidBodies {
                try await Self.call(client, .post, reserve, body, expect: .badRequest, error: "invalid_request")
            }
            for body in [
                #"{"stock": -1}"#, #"{"stock": "10"}"#, #"{"stock": 1, "perUserLimit": 0}"#, #"{"stock": 1, "reservationTtlSeconds": 0}"#, "{}",
                #"{"stock": 1, "buckets": 0}"#, #"{"stock": 1, "buckets": 17}"#, #"{"stock": 1, "buckets": "3"}"#,
            ] {
                try await Self.call(client, .put, "/v1/skus/s", body, headers: Self.admin, expect: .badRequest, error: "invalid_request")
            }
            let huge = #"{"user":"u","quantity":1,"requestId":"r","padding":""# + String(repeating: "x", count: 1 << 20) + #""}"#
            try await Self.call(client, .post, reserve, huge, expect: .contentTooLarge, error: "body_too_large")
            // Unknown fields are ignored.
            try await Self.call(client, .post, reserve, #"{"user":"u","quantity":1,"requestId":"ok","colour":"red"}"#, expect: .created)

            try await Self.call(client, .get, "/v1/skus/nope", expect: .notFound, error: "unknown_sku")
            try await Self.call(client, .post, "/v1/skus/nope/reservations", #"{"user":"u","quantity":1,"requestId":"r"}"#,
                expect: .notFound, error: "unknown_sku")
            try await Self.call(client, .get, "/v1/skus/s/reservations/rnope", expect: .notFound, error: "unknown_reservation")
            try await Self.call(client, .post, "/v1/skus/s/reservations/rnope/commit", expect: .notFound, error: "unknown_reservation")
            try await Self.call(client, .post, "/v1/skus/s/reservations/rnope/release", expect: .notFound, error: "unknown_reservation")
            try await Self.call(client, .get, "/v1/skus/\(String(repeating: "k", count: 129))", expect: .badRequest, error: "invalid_request")
            try await Self.call(client, .get, "/no/such/route", expect: .notFound, error: "not_found")
            try await Self.call(client, .post, "/v1/cluster/nodes", "{}", expect: .unauthorized, error: "unauthorized")
            try await Self.call(client, .delete, "/v1/cluster/nodes/n2", expect: .unauthorized, error: "unauthorized")
            #expect(try await Self.call(client, .get, "/healthz", expect: .ok)["status"] as? String == "ok")
            #expect(try await Self.call(client, .get, "/v1/skus/s", expect: .ok)["reserved"] as? Int == 1)
        }
    }

    /// A bad body's message names the field at fault: null for an optional setting is a wrong type
    /// (leaving it out takes the default), and a number no 64-bit integer holds is not "not JSON".
    @Test func aBadBodysMessageNamesItsField() async throws {
        try await Self.withAPI { client, _ in
            let messages: [(HTTPRequest.Method, String, String, String)] = [
                (.put, "/v1/skus/s", #"{"stock": 1, "perUserLimit": null}"#, "perUserLimit has the wrong type"),
                (.put, "/v1/skus/s", #"{"stock": 1, "reservationTtlSeconds": null}"#, "reservationTtlSeconds has the wrong type"),
                (.put, "/v1/skus/s", #"{"stock": 1, "buckets": null}"#, "buckets has the wrong type"),
                (.put, "/v1/skus/s", #"{"stock": null}"#, "stock has the wrong type"),
                (.put, "/v1/skus/s", #"{"stock": 1e30}"#, "stock must be an integer"),
                (.put, "/v1/skus/s", "[]", "the body is not a JSON object"),
                (.post, "/v1/skus/s/reservations", #"{"user":"u","quantity":99999999999999999999,"requestId":"r"}"#, "quantity must be an integer"),
                (.post, "/v1/skus/s/reservations", #"{"user":"u","quantity":1.5,"requestId":"r"}"#, "quantity must be an integer"),
                (.post, "/v1/skus/s/reservations", "[]", "the body is not a JSON object"),
                (.post, "/v1/skus/s/reservations", "{not json", "the body is not a JSON object"),
            ]
            for (method, uri, body, message) in messages {
                let answer = try await Self.call(client, method, uri, body, headers: Self.admin, expect: .badRequest, error: "invalid_request")
                #expect(answer["message"] as? String == message, "\(body)")
            }
            // Left out, the optional settings take their defaults.
            let defined = try await Self.call(client, .put, "/v1/skus/s", #"{"stock": 1}"#, headers: Self.admin, expect: .created)
            #expect(defined["perUserLimit"] as? Int == 1 && defined["reservationTtlSeconds"] as? Int == 600)
        }
    }

    /// A scheduled sale: its window in the view as RFC 3339, 409 not_started with the seconds to
    /// the opening in Retry-After, 409 sale_ended after a close (an admin call), on the shard's clock.
    @Test func aScheduledSaleOpensAndCloses() async throws {
        try await Self.withAPI(scriptTime: .supplied) { client, shard in
            let now = try await shard.scriptClockMilliseconds()
            let opening = (now / 1000 + 90) * 1000
            let startsAt = FoundationRFC3339.format(opening)
            let defined = try await Self.call(
                client, .put, "/v1/skus/s", #"{"stock": 2, "startsAt": "\#(startsAt)"}"#, headers: Self.admin, expect: .created
            )
            #expect(defined["startsAt"] as? String == startsAt && defined["endsAt"] == nil)
            let buy = #"{"user":"u","quantity":1,"requestId":"1"}"#
            try await client.execute(uri: "/v1/skus/s/reservations", method: .post, body: Self.body(buy)) { response in
                #expect(response.status == .conflict)
                #expect(String(buffer: response.body).contains(#""error":"not_started""#))
                let seconds = (opening - now + 999) / 1000
                #expect(response.headers[.retryAfter] == String(seconds))
            }
            try await shard.advanceScriptClock(by: .milliseconds(opening - now))
            try await Self.call(client, .post, "/v1/skus/s/reservations", buy, expect: .created)
            try await Self.call(client, .post, "/v1/skus/s/close", expect: .unauthorized, error: "unauthorized")
            let closed = try await Self.call(client, .post, "/v1/skus/s/close", headers: Self.admin, expect: .ok)
            #expect(closed["endsAt"] as? String == FoundationRFC3339.format(opening) && closed["reserved"] as? Int == 1)
            try await Self.call(client, .post, "/v1/skus/s/reservations", #"{"user":"v","quantity":1,"requestId":"2"}"#, expect: .conflict, error: "sale_ended")
            try await Self.call(client, .post, "/v1/skus/unknown/close", headers: Self.admin, expect: .notFound, error: "unknown_sku")
        }
    }

    @Test func aWindowMustBeRFC3339AndInOrder() async throws {
        try await Self.withAPI { client, _ in
            let refusals: [(String, String)] = [
                (#"{"stock": 1, "startsAt": "tomorrow"}"#, "startsAt must be an RFC 3339 instant such as 2026-12-24T10:00:00Z (years 1970 to 9999)"),
                (#"{"stock": 1, "endsAt": "2026-02-30T10:00:00Z"}"#, "endsAt must be an RFC 3339 instant such as 2026-12-24T10:00:00Z (years 1970 to 9999)"),
                (#"{"stock": 1, "startsAt": null}"#, "startsAt has the wrong type"),
                (#"{"stock": 1, "endsAt": 5}"#, "endsAt has the wrong type"),
                (#"{"stock": 1, "startsAt": "2026-12-24T10:00:00Z", "endsAt": "2026-12-24T11:00:00+01:00"}"#, "endsAt must be after startsAt"),
            ]
            for (body, message) in refusals {
                let answer = try await Self.call(client, .put, "/v1/skus/s", body, headers: Self.admin, expect: .badRequest, error: "invalid_request")
                #expect(answer["message"] as? String == message, "\(body)")
            }
            let defined = try await Self.call(
                client, .put, "/v1/skus/s", #"{"stock": 1, "startsAt": "2026-12-24T10:00:00.5+01:00", "endsAt": "2026-12-24t10:00:00.123456Z"}"#,
                headers: Self.admin, expect: .created
            )
            #expect(defined["startsAt"] as? String == "2026-12-24T09:00:00.500Z" && defined["endsAt"] as? String == "2026-12-24T10:00:00.123Z")
        }
    }

    /// The bucket count is part of the SKU's view and fixed once the SKU is defined.
    @Test func aSKUsBucketCountIsShownAndFixed() async throws {
        try await Self.withAPI { client, _ in
            let whole = try await Self.call(client, .put, "/v1/skus/w", #"{"stock": 10}"#, headers: Self.admin, expect: .created)
            #expect(whole["buckets"] as? Int == 1)
            let split = try await Self.call(client, .put, "/v1/skus/s", #"{"stock": 30, "buckets": 3}"#, headers: Self.admin, expect: .created)
            #expect(split["buckets"] as? Int == 3 && split["stock"] as? Int == 30)
            try await Self.call(client, .put, "/v1/skus/w", #"{"stock": 10, "buckets": 2}"#, headers: Self.admin, expect: .badRequest, error: "invalid_request")
            try await Self.call(client, .put, "/v1/skus/s", #"{"stock": 31, "buckets": 3}"#, headers: Self.admin, expect: .badRequest, error: "invalid_request")
            try await Self.call(client, .put, "/v1/skus/s", #"{"stock": 30, "buckets": 3}"#, headers: Self.admin, expect: .ok)
        }
    }

    @Test func percentEncodedSKUsAreDecoded() async throws {
        try await Self.withAPI { client, _ in
            let created = try await Self.call(client, .put, "/v1/skus/red%20shoe%2F42", #"{"stock": 1}"#, headers: Self.admin, expect: .created)
            #expect(created["sku"] as? String == "red shoe/42")
            #expect(try await Self.call(client, .get, "/v1/skus/red%20shoe%2F42", expect: .ok)["stock"] as? Int == 1)
        }
    }

    @Test func redisGoingAwayGives503WithRetryAfterThenRecovers() async throws {
        try await Self.withAPI { client, shard in
            try await Self.call(client, .put, "/v1/skus/s", #"{"stock": 5}"#, headers: Self.admin, expect: .created)
            try await Self.call(client, .get, "/readyz", expect: .ok)
            shard.server.kill()
            let response = try await client.execute(
                uri: "/v1/skus/s/reservations", method: .post, body: Self.body(#"{"user":"u","quantity":1,"requestId":"1"}"#))
            #expect(response.status == .serviceUnavailable)
            #expect(response.headers[.retryAfter] == "1")
            #expect(try Self.json(response)["error"] as? String == "unavailable")
            try await Self.call(client, .get, "/readyz", expect: .serviceUnavailable, error: "unavailable")
            try shard.server.start()
            var ready = false
            for _ in 0..<100 where !ready {
                ready = try await client.execute(uri: "/readyz", method: .get) { $0.status == .ok }
                if !ready { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(ready)
            try await Self.call(client, .post, "/v1/skus/s/reservations", #"{"user":"u","quantity":1,"requestId":"1"}"#, expect: .created)
        }
    }

    @Test func clusterAndMetricsAnswer() async throws {
        try await Self.withAPI { client, _ in
            try await Self.call(client, .put, "/v1/skus/a", #"{"stock": 1}"#, headers: Self.admin, expect: .created)
            let cluster = try await Self.call(client, .get, "/v1/cluster", expect: .ok)
            let nodes = try #require(cluster["nodes"] as? [[String: Any]])
            #expect(cluster["epoch"] as? Int == 1 && nodes.first?["skuCount"] as? Int == 1)
            #expect((cluster["syncer"] as? [String: Any])?["fencingEpoch"] as? Int == 0)
            try await Self.call(client, .post, "/v1/cluster/nodes", "{}", headers: Self.admin, expect: .badRequest, error: "invalid_request")
            let node = #"{"id":"n2","clientUrl":"http://127.0.0.1:8082","peerAddress":"127.0.0.1:9082","redisUrl":"redis://127.0.0.1:6380"}"#
            #expect(try await Self.call(client, .post, "/v1/cluster/nodes", node, headers: Self.admin, expect: .accepted)["id"] as? String == "n2")
            let badPeer = node.replacingOccurrences(of: "127.0.0.1:9082", with: "nowhere")
            try await Self.call(client, .post, "/v1/cluster/nodes", badPeer, headers: Self.admin, expect: .badRequest, error: "invalid_request")
            // A replica must be another redis:// URL than the primary.
            let sameReplica = node.replacingOccurrences(of: "}", with: #","redisReplicaUrl":"redis://127.0.0.1:6380"}"#)
            try await Self.call(client, .post, "/v1/cluster/nodes", sameReplica, headers: Self.admin, expect: .badRequest, error: "invalid_request")
            let other = node.replacingOccurrences(of: "\"n2\"", with: "\"n3\"")
            try await Self.call(client, .post, "/v1/cluster/nodes", other, headers: Self.admin, expect: .conflict, error: "change_in_progress")
            try await Self.call(client, .delete, "/v1/cluster/nodes/n2", headers: Self.admin, expect: .accepted)
            try await Self.call(client, .delete, "/v1/cluster/nodes/n9", headers: Self.admin, expect: .notFound, error: "unknown_node")
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "flashsale_test 1\n")
            }
        }
    }
}

extension ISO8601DateFormatter {
    nonisolated(unsafe) static let withFractionalSeconds: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }()
}
