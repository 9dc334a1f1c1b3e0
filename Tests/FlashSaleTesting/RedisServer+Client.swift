public import FlashSaleRedis
import Logging

extension RedisServer {
    /// A started client of this server (close it with `stop()`); with `replication`, its round
    /// trips wait for the replicas as a node's do.
    public func client(connections: Int = 1, replication: RedisClient.Replication? = nil) -> RedisClient {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let client = RedisClient(
            endpoint: RedisEndpoint(host: "127.0.0.1", port: self.port),
            configuration: .init(
                connectionCount: connections, timeoutMilliseconds: 2000, reconnectBackoffMaxMilliseconds: 100, replication: replication
            ),
            logger: logger
        )
        client.start()
        return client
    }

    /// Waits until a write on this primary reaches `replicas` replicas.
    public func waitUntilReplicated(replicas: Int = 1) async throws {
        let probe = self.client()
        defer { Task { await probe.stop() } }
        for _ in 0..<100 {
            if let confirmed = try? await probe.send([["SET", "fs:probe:test", "1"], ["WAIT", String(replicas), "100"]]).last?.integer,
                confirmed >= replicas
            {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestServerError.didNotStart("a replica of the Redis on port \(self.port)")
    }
}

extension SKUStore {
    /// An unfenced store on `client` that logs nothing below critical, as a tool or a stale
    /// writer would use the shard.
    public static func quiet(on client: RedisClient) -> SKUStore {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return SKUStore(scripts: ScriptRunner(client: client), logger: logger)
    }
}
