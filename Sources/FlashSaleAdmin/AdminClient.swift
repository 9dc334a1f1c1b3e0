public import FlashSaleCore
public import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Calls one node's admin API: `GET /v1/cluster`, `POST /v1/cluster/nodes`, `DELETE /v1/cluster/nodes/{id}`,
/// `PUT /v1/skus/{sku}`, `GET /v1/skus/{sku}` and `POST /v1/skus/{sku}/close`.
public struct AdminClient: Sendable {
    public let baseURL: URL
    public let token: String

    public init(baseURL: URL, token: String) {
        self.baseURL = baseURL
        self.token = token
    }

    public func cluster() async throws(AdminError) -> ClusterStatus {
        try Self.decode(ClusterStatus.self, try await self.clusterJSON(), "GET /v1/cluster")
    }

    /// `GET /v1/cluster` as the node answered it.
    public func clusterJSON() async throws(AdminError) -> Data {
        let (status, body) = try await self.send("GET", "/v1/cluster")
        guard status == 200 else { throw Self.error(status, body) }
        return body
    }

    /// `PUT /v1/skus/{sku}`: defines the SKU or changes it; answers the SKU's view as JSON.
    public func putSKU(
        _ sku: String,
        stock: Int64,
        perUserLimit: Int64?,
        reservationTtlSeconds: Int64?,
        buckets: Int64? = nil,
        startsAt: String? = nil,
        endsAt: String? = nil
    ) async throws(AdminError) -> Data {
        let body = JSONWriter.object {
            $0.field("stock", stock)
            if let perUserLimit { $0.field("perUserLimit", perUserLimit) }
            if let reservationTtlSeconds { $0.field("reservationTtlSeconds", reservationTtlSeconds) }
            if let buckets { $0.field("buckets", buckets) }
            if let startsAt { $0.field("startsAt", startsAt) }
            if let endsAt { $0.field("endsAt", endsAt) }
        }
        let (status, answer) = try await self.send("PUT", Self.skuPath(sku), body: Data(body.utf8))
        guard status == 200 || status == 201 else { throw Self.error(status, answer) }
        return answer
    }

    /// `POST /v1/skus/{sku}/close`: ends the sale now on its owner's clock; the SKU's view as JSON.
    public func closeSKU(_ sku: String) async throws(AdminError) -> Data {
        let (status, answer) = try await self.send("POST", Self.skuPath(sku) + "/close")
        guard status == 200 else { throw Self.error(status, answer) }
        return answer
    }

    /// `GET /v1/skus/{sku}`: the SKU's view as JSON.
    public func sku(_ sku: String) async throws(AdminError) -> Data {
        let (status, answer) = try await self.send("GET", Self.skuPath(sku))
        guard status == 200 else { throw Self.error(status, answer) }
        return answer
    }

    public static func decode<Value: Decodable>(_ type: Value.Type, _ body: Data, _ call: String) throws(AdminError) -> Value {
        do {
            return try JSONDecoder().decode(type, from: body)
        } catch {
            throw .unexpected("\(call) answered \(String(decoding: body, as: UTF8.self))")
        }
    }

    private static func skuPath(_ sku: String) -> String {
        "/v1/skus/" + (sku.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? sku)
    }

    public func addNode(_ registration: NodeRegistration) async throws(AdminError) {
        let body = JSONWriter.object {
            $0.field("id", registration.id)
            $0.field("clientUrl", registration.clientUrl)
            $0.field("peerAddress", registration.peerAddress)
            $0.field("redisUrl", registration.redisUrl)
            $0.field("weight", registration.weight)
        }
        let (status, answer) = try await self.send("POST", "/v1/cluster/nodes", body: Data(body.utf8))
        guard status == 202 else { throw Self.error(status, answer) }
    }

    public func removeNode(_ id: String) async throws(AdminError) {
        let path = "/v1/cluster/nodes/" + (id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? id)
        let (status, answer) = try await self.send("DELETE", path)
        guard status == 202 else { throw Self.error(status, answer) }
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

    private func send(_ method: String, _ path: String, body: Data? = nil) async throws(AdminError) -> (Int, Data) {
        // The path is already percent-encoded: appended as text, not as a path component (which
        // would encode the % signs again).
        var base = self.baseURL.absoluteString
        while base.hasSuffix("/") { base.removeLast() }
        guard let url = URL(string: base + path) else { throw .unexpected("\(base + path) is not a URL") }
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.timeoutInterval = 10
        request.setValue("Bearer \(self.token)", forHTTPHeaderField: "Authorization")
        if let body {
            request.httpBody = body
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        do {
            let (data, response) = try await URLSession.shared.data(for: request)
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
        } catch {
            throw .unreachable("\(method) \(self.baseURL.absoluteString)\(path): \(error.localizedDescription)")
        }
    }

    private static func error(_ status: Int, _ body: Data) -> AdminError {
        let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any]
        let code = object?["error"] as? String ?? "http_\(status)"
        let message = object?["message"] as? String ?? String(decoding: body, as: UTF8.self)
        return .refused(status: status, code: code, message: message)
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
