public import FlashSaleRedis
import Logging

/// A real Redis shard with a started client and the SKU store on it.
public final class TestShard: Sendable {
    public let server: RedisServer
    public let client: RedisClient
    public let store: SKUStore

    public init(connections: Int = 2) throws {
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

    public func close() async {
        await self.client.stop()
        self.server.kill()
    }
}
