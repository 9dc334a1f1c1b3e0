public import FlashSaleCluster
public import Foundation
public import HTTPTypes
import FlashSaleClient
import Synchronization

/// Real `flashsale node` processes with their own Redis shards, one PostgreSQL and the launcher's
/// certificates: the one harness of every test that runs a cluster. Nodes can be added while it
/// runs; `close` stops everything by PID.
public final class TestCluster: @unchecked Sendable {
    public let postgres: PostgresServer
    public private(set) var shards: [TestShard] = []
    public private(set) var nodes: [NodeProcess] = []
    /// The nodes' certificates; nil for nodes without the peer protocol (each serves only its shard).
    public let tls: URL?
    /// Every node's configuration file (`NodeConfiguration` keys as JSON).
    public let settings: String
    public let logLevel: String
    /// What each node's environment adds, by node id (a skewed clock, say).
    public let nodeEnvironment: @Sendable (String) -> [String: String]

    /// Starts n1...n`count` (certificates also for the next `spare` ids, to add later) and waits
    /// until every one of them sees all of them active. Without `peers` the nodes get no
    /// certificates and run no peer protocol (the syncer's tests need only the shared record).
    public init(
        nodes count: Int,
        spare: Int = 0,
        peers: Bool = true,
        settings: String = "{}",
        logLevel: String = "warning",
        nodeEnvironment: @escaping @Sendable (String) -> [String: String] = { _ in [:] }
    ) async throws {
        self.settings = settings
        self.logLevel = logLevel
        self.nodeEnvironment = nodeEnvironment
        self.tls = peers ? try TestCertificates.make(nodes: (1...(count + spare)).map { "n\($0)" }) : nil
        self.postgres = try PostgresServer()
        do {
            for index in 1...count { try await self.start("n\(index)") }
            try await self.waitUntilSettled(active: Set((1...count).map { "n\($0)" }))
        } catch {
            await self.close()
            throw error
        }
    }

    /// Runs `body` on a fresh cluster and stops the cluster (nodes, shards, PostgreSQL) whether
    /// `body` returns or throws: stopped here, not in a deinit, since a node left running would
    /// keep the test runner's output open.
    public static func with<Value>(
        nodes count: Int,
        spare: Int = 0,
        peers: Bool = true,
        settings: String = "{}",
        logLevel: String = "warning",
        nodeEnvironment: @escaping @Sendable (String) -> [String: String] = { _ in [:] },
        _ body: (TestCluster) async throws -> Value
    ) async throws -> Value {
        let cluster = try await TestCluster(
            nodes: count, spare: spare, peers: peers, settings: settings, logLevel: logLevel, nodeEnvironment: nodeEnvironment
        )
        do {
            let value = try await body(cluster)
            await cluster.close()
            return value
        } catch {
            await cluster.close()
            throw error
        }
    }

    /// Starts a node with a fresh shard; it joins the cluster by itself.
    public func start(_ id: String) async throws {
        let shard = try await TestShard.start()
        self.shards.append(shard)
        self.nodes.append(
            try NodeProcess(
                id: id, redisURL: shard.server.url, postgresURL: self.postgres.url, settings: self.settings, tlsDirectory: self.tls,
                logLevel: self.logLevel, environment: self.nodeEnvironment(id)
            )
        )
    }

    public func node(_ id: String) -> NodeProcess { self.nodes.first { $0.id == id }! }
    public func shard(of id: String) -> TestShard { self.shards[self.nodes.firstIndex { $0.id == id }!] }

    /// Waits until every node in `active` answers /readyz and sees exactly `active` as its active
    /// nodes, each serving its own shard, with no change in progress (each join or leave is one
    /// change: started, then settled).
    public func waitUntilSettled(active: Set<String>, seconds: Int = 60) async throws {
        for id in active.sorted() {
            try await Self.waitUntilSettled(port: self.node(id).httpPort, active: active, seconds: seconds)
        }
    }

    /// Waits until the node on `port` answers /readyz and sees exactly `active` active, each
    /// serving its own shard, with no change in progress.
    public static func waitUntilSettled(port: Int, active: Set<String>, seconds: Int = 60) async throws {
        for _ in 0..<(seconds * 10) {
            if let (status, body) = try? await HTTP.call(port, .get, "/v1/cluster"), status == 200,
                let cluster = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
                cluster["rebalancing"] as? Bool == false, let nodes = cluster["nodes"] as? [[String: Any]],
                Set(nodes.filter { $0["state"] as? String == "active" }.compactMap { $0["id"] as? String }) == active,
                nodes.allSatisfy({ $0["adoptedBy"] == nil }),
                (try? await HTTP.call(port, .get, "/readyz"))?.status == 200
            {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestServerError.didNotStart("the node on port \(port) seeing \(active.sorted()) active")
    }

    /// The owners a settled membership of `active` nodes gives SKUs (placement does not depend on the epoch).
    public static func membership(active: [String]) -> Membership {
        Membership(epoch: 1, nodes: active.map { .init(id: $0, clientURL: "", peerAddress: "", redisURL: "", state: .active) })
    }

    public var ports: [Int] { self.nodes.map(\.httpPort) }

    public func close() async {
        for node in self.nodes { node.signal(SIGKILL) }
        for shard in self.shards { await shard.close() }
        self.postgres.kill()
    }
}

/// One HTTP request to one node, as a buyer's client would send it: through `FlashSaleClient`,
/// to that node only and once (the tests decide what a retry is), with the tests' admin token.
public enum HTTP {
    private static let clients = Mutex<[Int: FlashSaleClient]>([:])

    public static func call(
        _ port: Int,
        _ method: HTTPRequest.Method,
        _ path: String,
        body: String? = nil
    ) async throws -> (status: Int, body: String) {
        let client = try Self.clients.withLock { clients in
            if let client = clients[port] { return client }
            let client = try FlashSaleClient(
                configuration: .init(
                    nodeURLs: ["http://127.0.0.1:\(port)"], token: "test", routing: .anyNode, retry: .never, requestTimeout: .seconds(30)
                )
            )
            clients[port] = client
            return client
        }
        let request = ClientRequest(method: method.rawValue, path: path, body: body.map { Data($0.utf8) }, isRepeatable: false)
        let answer = await client.send(request)
        guard let status = answer.status else { throw FlashSaleClientError.unanswered(answer.failure ?? "\(method) \(path)") }
        return (status, String(decoding: answer.body, as: UTF8.self))
    }
}
