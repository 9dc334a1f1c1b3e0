public import FlashSaleCore
public import Foundation
import Synchronization
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A shop's client of a flashsale cluster: typed calls for every route (`FlashSaleClient+Calls`),
/// retries of unanswered and 503 calls with the same requestId (`RetryPolicy`, honouring
/// `Retry-After`), and, with `.owner` routing, each SKU's calls sent straight to the node that
/// owns it, by a ring read from `GET /v1/cluster` and read again when an answer's
/// `Flashsale-Epoch` names a newer one or a node stops answering. Any node answers any call, so a
/// wrong or stale guess costs one forwarding hop, never a wrong answer.
public final class FlashSaleClient: Sendable {
    public enum Routing: String, Sendable, Hashable, CaseIterable {
        /// To the SKU's owner (or the bucket's), any node when that is not known.
        case owner
        /// To a random node each time (which forwards to the owner).
        case anyNode = "any"
    }

    public struct Configuration: Sendable {
        /// Client URLs of some nodes (`http://127.0.0.1:8080`): where the client starts; it learns
        /// the others from the cluster.
        public var nodeURLs: [String]
        /// The admin bearer token, for the admin calls; nil for a client that only buys.
        public var token: String?
        public var routing: Routing
        public var retry: RetryPolicy
        /// How long one try waits for its answer.
        public var requestTimeout: Duration
        /// Keep-alive connections per node at most.
        public var connectionsPerNode: Int

        public init(
            nodeURLs: [String], token: String? = nil, routing: Routing = .owner, retry: RetryPolicy = .init(),
            requestTimeout: Duration = .seconds(5), connectionsPerNode: Int = 64
        ) {
            self.nodeURLs = nodeURLs
            self.token = token
            self.routing = routing
            self.retry = retry
            self.requestTimeout = requestTimeout
            self.connectionsPerNode = connectionsPerNode
        }
    }

    /// One try of a call: the node, wall-clock milliseconds, and the status (nil: no answer).
    public struct Attempt: Sendable, Hashable {
        public var node: String
        public var startMilliseconds: Int64
        public var endMilliseconds: Int64
        public var status: Int?
    }

    /// A call's final answer (nil status when no try got one) and every try it took.
    public struct Answer: Sendable {
        public var status: Int?
        public var body: Data
        public var retryAfterSeconds: Int?
        public var attempts: [Attempt]
        /// Why the last try got no answer.
        public var failure: String?

        /// The body's top-level fields, when it is a JSON object: a reservation's `id`, an error's
        /// `error` and `message`.
        public var fields: [String: Any]? {
            (try? JSONSerialization.jsonObject(with: self.body)) as? [String: Any]
        }
    }

    public let configuration: Configuration
    private let session: URLSession
    private let directory: DirectoryCache
    /// Buckets of the split SKUs this client has seen defined or read: a user's reservation then
    /// goes to their bucket's owner. Bounded; forgetting costs one hop.
    private let bucketsBySKU = Mutex<[String: Int64]>([:])
    private static let bucketsRemembered = 65_536

    public static let epochHeader = "Flashsale-Epoch"

    public init(configuration: Configuration) throws(FlashSaleClientError) {
        guard !configuration.nodeURLs.isEmpty else { throw .invalidConfiguration("at least one node URL is needed") }
        for url in configuration.nodeURLs {
            guard let parsed = URL(string: url), parsed.scheme == "http" || parsed.scheme == "https", parsed.host != nil else {
                throw .invalidConfiguration("\(url) is not an http:// or https:// URL")
            }
        }
        guard configuration.connectionsPerNode >= 1, configuration.requestTimeout > .zero else {
            throw .invalidConfiguration("connectionsPerNode and requestTimeout must be positive")
        }
        var configuration = configuration
        configuration.nodeURLs = configuration.nodeURLs.map(Self.trimmed)
        self.configuration = configuration
        let sessionConfiguration = URLSessionConfiguration.ephemeral
        sessionConfiguration.httpMaximumConnectionsPerHost = configuration.connectionsPerNode
        sessionConfiguration.timeoutIntervalForRequest = configuration.requestTimeout.seconds
        self.session = URLSession(configuration: sessionConfiguration)
        self.directory = DirectoryCache()
    }

    deinit {
        self.session.finishTasksAndInvalidate()
    }

    /// The ring the client routes by now (nil before it has read one).
    public var ownerDirectory: OwnerDirectory? { self.directory.current }

    /// Sends `request`, trying again while it gets no answer or a 503 and the retry policy allows
    /// (only a repeatable request); a try that got no answer from a node sends the next to another.
    public func send(_ request: ClientRequest) async -> Answer {
        let started = ContinuousClock.now
        var attempts: [Attempt] = []
        var unanswering: Set<String> = []
        while true {
            let node = await self.node(for: request.target, avoiding: unanswering)
            let tryStart = Self.nowMilliseconds
            let outcome = await self.transport(request, to: node)
            var answer = Answer(status: nil, body: Data(), retryAfterSeconds: nil, attempts: [], failure: nil)
            switch outcome {
            case .answered(let status, let body, let headers):
                answer.status = status
                answer.body = body
                answer.retryAfterSeconds = headers.retryAfterSeconds
                if let epoch = headers.epoch { self.directory.observe(epoch: epoch) }
            case .failed(let why):
                answer.failure = "\(request.method) \(node)\(request.path): \(why)"
                unanswering.insert(node)
                // The node may be gone and its SKUs served by another now.
                self.directory.markStale()
            }
            attempts.append(.init(node: node, startMilliseconds: tryStart, endMilliseconds: Self.nowMilliseconds, status: answer.status))
            answer.attempts = attempts
            if let status = answer.status, status != 503 {
                if case .sku = request.target, status == 200 || status == 201 { self.remember(answer.body) }
                return answer
            }
            guard request.isRepeatable,
                let delay = self.configuration.retry.delay(
                    afterAttempt: attempts.count, elapsed: .now - started,
                    retryAfter: answer.retryAfterSeconds.map { .seconds($0) }, jitter: Double.random(in: 0..<1)
                )
            else { return answer }
            try? await Task.sleep(for: delay)
            if Task.isCancelled { return answer }
        }
    }

    /// Remembers a SKU's buckets from a view of it (a define's, a read's or a close's answer,
    /// whether the typed calls or `send` asked for it).
    private func remember(_ view: Data) {
        struct Buckets: Decodable {
            var sku: String
            var buckets: Int64
        }
        guard let view = try? JSONDecoder().decode(Buckets.self, from: view) else { return }
        self.bucketsBySKU.withLock { buckets in
            if buckets.count >= Self.bucketsRemembered, buckets[view.sku] == nil { buckets.removeAll(keepingCapacity: true) }
            buckets[view.sku] = view.buckets
        }
    }

    private func node(for target: CallTarget, avoiding unanswering: Set<String>) async -> String {
        if case .node(let url) = target { return Self.trimmed(url) }
        var directory = self.directory.current
        if self.configuration.routing == .owner {
            directory = await self.directory.fresh { await self.readDirectory(avoiding: unanswering) }
            if let directory, let url = directory.nodeURL(for: target, buckets: self.buckets(of: target)), !unanswering.contains(url) {
                return url
            }
        }
        let known = Set(self.configuration.nodeURLs + (directory?.liveNodeURLs ?? []).map(Self.trimmed))
        let candidates = known.subtracting(unanswering)
        return (candidates.isEmpty ? known : candidates).randomElement()!
    }

    private func buckets(of target: CallTarget) -> Int64? {
        guard case .userReservation(let sku, _) = target else { return nil }
        return self.bucketsBySKU.withLock { $0[sku] }
    }

    /// `GET /v1/cluster` from the first node that answers it, one try each.
    private func readDirectory(avoiding unanswering: Set<String>) async -> OwnerDirectory? {
        let known = self.configuration.nodeURLs + (self.directory.current?.liveNodeURLs ?? []).map(Self.trimmed)
        var seen = Set<String>()
        let order = known.filter { !unanswering.contains($0) }.shuffled() + known.filter { unanswering.contains($0) }
        for node in order where seen.insert(node).inserted {
            guard case .answered(200, let body, _) = await self.transport(.cluster(), to: node),
                let status = try? JSONDecoder().decode(ClusterStatus.self, from: body)
            else { continue }
            return OwnerDirectory(status)
        }
        return nil
    }

    private enum Outcome {
        case answered(status: Int, body: Data, headers: AnswerHeaders)
        case failed(String)
    }

    private struct AnswerHeaders {
        var retryAfterSeconds: Int?
        var epoch: Int64?
    }

    private func transport(_ request: ClientRequest, to node: String) async -> Outcome {
        guard let url = URL(string: node + request.path) else { return .failed("\(node)\(request.path) is not a URL") }
        var urlRequest = URLRequest(url: url)
        urlRequest.httpMethod = request.method
        urlRequest.timeoutInterval = self.configuration.requestTimeout.seconds
        if let token = self.configuration.token { urlRequest.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let body = request.body {
            urlRequest.httpBody = body
            urlRequest.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        do {
            let (data, response) = try await self.session.data(for: urlRequest)
            guard let http = response as? HTTPURLResponse else { return .failed("the answer is not HTTP") }
            let headers = AnswerHeaders(
                retryAfterSeconds: http.value(forHTTPHeaderField: "Retry-After").flatMap { Int($0.trimmingCharacters(in: .whitespaces)) },
                epoch: http.value(forHTTPHeaderField: Self.epochHeader).flatMap { Int64($0.trimmingCharacters(in: .whitespaces)) }
            )
            return .answered(status: http.statusCode, body: data, headers: headers)
        } catch {
            return .failed(error.localizedDescription)
        }
    }

    private static func trimmed(_ url: String) -> String {
        var url = url
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }

    static var nowMilliseconds: Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = self.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
