public import FlashSaleRedis
import Logging

/// A real Redis shard with a started client and the SKU store on it.
public final class TestShard: Sendable {
    public let server: RedisServer
    public let client: RedisClient
    public let store: SKUStore

    private init(connections: Int) throws {
        self.server = try RedisServer()
        var logger = Logger(label: "test")
        logger.logLevel = .error
        self.client = RedisClient(
            endpoint: RedisEndpoint(host: "127.0.0.1", port: self.server.port),
            configuration: .init(connectionCount: connections, timeoutMilliseconds: 1000, reconnectBackoffMaxMilliseconds: 100),
            logger: logger
        )
        self.client.start()
        self.store = SKUStore(scripts: ScriptRunner(client: self.client), logger: logger)
    }

    /// Starts the shard and waits until the client gets PONG, so no test's first request meets
    /// a connection attempt still in its backoff on a busy machine.
    public static func start(connections: Int = 2) async throws -> TestShard {
        let shard = try TestShard(connections: connections)
        try await shard.waitUntilAnswering()
        return shard
    }

    public func waitUntilAnswering() async throws {
        for _ in 0..<200 {
            if (try? await self.client.send(["PING"])) == .string("PONG") { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestServerError.didNotStart("Redis on port \(self.server.port) (no PONG)")
    }

    public func close() async {
        await self.client.stop()
        self.server.kill()
    }

    /// Runs `body` with `count` fresh shards and stops them before returning, also when it throws
    /// (a shard left running would hold the test run's output open).
    public static func withShards(_ count: Int, _ body: ([TestShard]) async throws -> Void) async throws {
        var shards: [TestShard] = []
        do {
            for _ in 0..<count { shards.append(try await TestShard.start()) }
            try await body(shards)
        } catch {
            for shard in shards { await shard.close() }
            throw error
        }
        for shard in shards { await shard.close() }
    }
}
