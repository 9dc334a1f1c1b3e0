public import FlashSaleClient
public import FlashSaleCore
public import Foundation

/// Calls one node's admin API through `FlashSaleClient`: `GET /v1/cluster`, `POST /v1/cluster/nodes`,
/// `DELETE /v1/cluster/nodes/{id}`, `PUT /v1/skus/{sku}`, `GET /v1/skus/{sku}` and
/// `POST /v1/skus/{sku}/close`; answers as the node gave them, for `--json`.
public struct AdminClient: Sendable {
    public let baseURL: URL
    private let client: FlashSaleClient

    public init(baseURL: URL, token: String) throws(AdminError) {
        self.baseURL = baseURL
        do {
            // The node the operator named, and no other: a change is followed where it was made.
            self.client = try FlashSaleClient(
                configuration: .init(
                    nodeURLs: [baseURL.absoluteString], token: token, routing: .anyNode,
                    retry: RetryPolicy(attemptsMax: 3, timeBudget: .seconds(10)), requestTimeout: .seconds(10)
                )
            )
        } catch {
            throw .unexpected("\(error)")
        }
    }

    public func cluster() async throws(AdminError) -> ClusterStatus {
        try Self.decode(ClusterStatus.self, try await self.clusterJSON(), "GET /v1/cluster")
    }

    /// `GET /v1/cluster` as the node answered it.
    public func clusterJSON() async throws(AdminError) -> Data {
        try await self.send(.cluster(), expecting: [200])
    }

    /// `PUT /v1/skus/{sku}`: defines the SKU or changes it; answers the SKU's view as JSON.
    public func putSKU(_ sku: String, _ definition: SaleTerms) async throws(AdminError) -> Data {
        try await self.send(.defineSKU(sku, definition), expecting: [200, 201])
    }

    /// `POST /v1/skus/{sku}/close`: ends the sale now on its owner's clock; the SKU's view as JSON.
    public func closeSKU(_ sku: String) async throws(AdminError) -> Data {
        try await self.send(.closeSKU(sku), expecting: [200])
    }

    /// `GET /v1/skus/{sku}`: the SKU's view as JSON.
    public func sku(_ sku: String) async throws(AdminError) -> Data {
        try await self.send(.sku(sku), expecting: [200])
    }

    public static func decode<Value: Decodable>(_ type: Value.Type, _ body: Data, _ call: String) throws(AdminError) -> Value {
        do {
            return try JSONDecoder().decode(type, from: body)
        } catch {
            throw .unexpected("\(call) answered \(String(decoding: body, as: UTF8.self))")
        }
    }

    public func addNode(_ registration: NodeRegistration) async throws(AdminError) {
        _ = try await self.send(.addNode(registration), expecting: [202])
    }

    public func removeNode(_ id: String) async throws(AdminError) {
        _ = try await self.send(.removeNode(id), expecting: [202])
    }

    /// Makes a membership change, retrying while another change is in progress, then follows the
    /// cluster until `done`, reporting each new progress line. Throws `.timedOut` past `timeout`.
    public func change(
        _ call: (AdminClient) async throws(AdminError) -> Void,
        until done: (ClusterStatus) -> Bool,
        timeout: Duration,
        report: (String) -> Void
    ) async throws(AdminError) -> ClusterStatus {
        let deadline = ContinuousClock.now + timeout
        while true {
            do {
                try await call(self)
                break
            } catch where error.isRetryable && ContinuousClock.now < deadline {
                report("waiting: \(error)")
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
        var last = ""
        while true {
            let view = try await self.cluster()
            if view.progressLine != last {
                last = view.progressLine
                report(last)
            }
            if done(view) { return view }
            guard ContinuousClock.now < deadline else { throw .timedOut(last) }
            try? await Task.sleep(for: .milliseconds(250))
        }
    }

    private func send(_ request: ClientRequest, expecting expected: Set<Int>) async throws(AdminError) -> Data {
        do {
            return try await self.client.body(of: request, expecting: expected).body
        } catch {
            switch error {
            case .refused(let refusal): throw .refused(status: refusal.status, code: refusal.code, message: refusal.message)
            case .unanswered(let why): throw .unreachable(why)
            case .unexpected(let what), .invalidConfiguration(let what): throw .unexpected(what)
            }
        }
    }
}

public enum AdminError: Error, Sendable, Hashable, CustomStringConvertible {
    case unreachable(String)
    case refused(status: Int, code: String, message: String)
    case unexpected(String)
    /// The change did not finish in time; the last progress seen.
    case timedOut(String)

    /// Another change is in progress, or the node did not answer in time: the same call may
    /// succeed later (adding and removing a node are idempotent, so repeating one is safe).
    public var isRetryable: Bool {
        switch self {
        case .refused(_, let code, _): code == "change_in_progress" || code == "unavailable"
        case .unreachable: true
        case .unexpected, .timedOut: false
        }
    }

    public var description: String {
        switch self {
        case .unreachable(let why): "cannot reach the node: \(why)"
        case .refused(let status, let code, let message): "\(status) \(code): \(message)"
        case .unexpected(let what): what
        case .timedOut(let last): "not done in time; last seen: \(last)"
        }
    }
}
