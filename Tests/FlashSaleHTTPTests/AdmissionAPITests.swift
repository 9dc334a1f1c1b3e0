import FlashSaleCore
import FlashSaleHTTP
import FlashSaleTesting
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// Admission control through the API: with its one place held, a sale call is shed at once with 503
/// and Retry-After, while admin calls and probes are served.
@Suite struct AdmissionAPITests {
    /// The in-memory sale, where reading SKU "slow" waits until the test lets it go.
    final class HeldOperations: SaleOperations {
        let inner = InMemorySaleOperations(nowMilliseconds: { APITests.nowMilliseconds })
        let (released, release) = AsyncStream<Void>.makeStream()

        func run(_ operation: SaleOperation) async -> SaleOutcome {
            if case .skuState("slow") = operation { for await _ in self.released { break } }
            return await self.inner.run(operation)
        }
    }

    @Test func aSaleCallFindingNoPlaceIsShedAndAdminCallsAndProbesAreNot() async throws {
        let operations = HeldOperations()
        let gate = AdmissionGate(settings: .init(inFlightMax: 1, waitingMax: 0, queueDeadline: .milliseconds(50)))
        try await APITests.withAPI(over: operations, skuCount: { 0 }, isReady: { true }, limits: .init(), admission: gate) { client in
            try await APITests.call(client, .put, "/v1/skus/slow", #"{"stock": 5}"#, headers: APITests.admin, expect: .created)
            let port = try #require(client.port)
            let held = Task { try await HTTP.call(port, .get, "/v1/skus/slow") }
            for _ in 0..<5_000 where gate.load.inFlight == 0 { try await Task.sleep(for: .milliseconds(1)) }
            #expect(gate.load.inFlight == 1)

            try await client.execute(
                uri: "/v1/skus/slow/reservations", method: .post,
                body: ByteBuffer(string: #"{"user":"u","quantity":1,"requestId":"r1"}"#)
            ) { response in
                #expect(response.status == .serviceUnavailable)
                let answer = try APITests.json(response)
                #expect(answer["error"] as? String == "unavailable")
                #expect(response.headers[.retryAfter] == "1")
            }
            try await APITests.call(client, .get, "/v1/skus/slow", expect: .serviceUnavailable, error: "unavailable")
            // Admin calls and probes do not pass the gate.
            try await APITests.call(client, .put, "/v1/skus/other", #"{"stock": 1}"#, headers: APITests.admin, expect: .created)
            try await APITests.call(client, .get, "/healthz", expect: .ok)
            try await APITests.call(client, .get, "/readyz", expect: .ok)
            try await client.execute(uri: "/metrics", method: .get) { #expect($0.status == .ok) }

            operations.release.yield()
            #expect(try await held.value.status == 200)
            #expect(gate.load.inFlight == 0)
            try await APITests.call(client, .post, "/v1/skus/slow/reservations", #"{"user":"u","quantity":1,"requestId":"r1"}"#, expect: .created)
        }
    }
}
