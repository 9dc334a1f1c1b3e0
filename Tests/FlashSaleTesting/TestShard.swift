public import FlashSaleRedis
import Foundation
import Logging

/// A real Redis shard with a started client and the SKU store on it.
public final class TestShard: Sendable {
    public let server: RedisServer
    public let client: RedisClient
    public let store: SKUStore
    /// Where this shard's scripts read the time: Redis TIME, or the test's `advanceScriptClock`.
    public let scriptTime: ScriptTime

    private init(connections: Int, scriptTime: ScriptTime) throws {
        self.scriptTime = scriptTime
        self.server = try RedisServer()
        var logger = Logger(label: "test")
        logger.logLevel = .error
        self.client = RedisClient(
            endpoint: RedisEndpoint(host: "127.0.0.1", port: self.server.port),
            configuration: .init(connectionCount: connections, timeoutMilliseconds: 1000, reconnectBackoffMaxMilliseconds: 100),
            logger: logger
        )
        self.client.start()
        self.store = SKUStore(scripts: ScriptRunner(client: self.client, time: scriptTime), logger: logger)
    }

    /// Starts the shard and waits until the client gets PONG, so no test's first request meets
    /// a connection attempt still in its backoff on a busy machine. Under `.supplied` time the
    /// scripts' clock starts at the wall clock's millisecond and moves only by `advanceScriptClock`.
    public static func start(connections: Int = 2, scriptTime: ScriptTime = .redis) async throws -> TestShard {
        let shard = try TestShard(connections: connections, scriptTime: scriptTime)
        try await shard.waitUntilAnswering()
        if scriptTime == .supplied {
            try await shard.setScriptClock(milliseconds: Int64(Date().timeIntervalSince1970 * 1000))
        }
        return shard
    }

    /// The time the scripts read now, in milliseconds since 1970.
    public func scriptClockMilliseconds() async throws -> Int64 {
        precondition(self.scriptTime == .supplied, "the shard's scripts read Redis TIME")
        guard let milliseconds = try await self.client.send(["GET", SKUKeys.testClock]).string.flatMap({ Int64($0) }) else {
            throw TestServerError.didNotStart("Redis on port \(self.server.port) has no script clock")
        }
        return milliseconds
    }

    /// Moves the scripts' clock forward, so that a TTL passes without waiting for it.
    public func advanceScriptClock(by duration: Duration) async throws {
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        try await self.setScriptClock(milliseconds: try await self.scriptClockMilliseconds() + milliseconds)
    }

    /// Sets the scripts' clock, for example to another shard's, as if both read one clock.
    public func setScriptClock(milliseconds: Int64) async throws {
        precondition(self.scriptTime == .supplied, "the shard's scripts read Redis TIME")
        _ = try await self.client.send(["SET", SKUKeys.testClock, String(milliseconds)])
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
    public static func withShards(_ count: Int, scriptTime: ScriptTime = .redis, _ body: ([TestShard]) async throws -> Void) async throws {
        var shards: [TestShard] = []
        do {
            for _ in 0..<count { shards.append(try await TestShard.start(scriptTime: scriptTime)) }
            try await body(shards)
        } catch {
            for shard in shards { await shard.close() }
            throw error
        }
        for shard in shards { await shard.close() }
    }
}
